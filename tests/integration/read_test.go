package integration

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests read as the test process itself (host pid namespace, its
// own cgroup): they are about how content is delivered, not whose it is.

// readFiles are the files whose read semantics are checked, with a check
// that two copies taken a moment apart agree on what cannot change.
var readFiles = map[string]func(t *testing.T, a, b string){
	meminfo: func(t *testing.T, a, b string) {
		ma, mb := mustMeminfo(t, a), mustMeminfo(t, b)
		if !slices.Equal(ma.labels(), mb.labels()) {
			t.Errorf("labels differ:\n%v\n%v", ma.labels(), mb.labels())
		}
		if ma.get(t, "MemTotal") != mb.get(t, "MemTotal") {
			t.Errorf("MemTotal differs: %d vs %d", ma.get(t, "MemTotal"), mb.get(t, "MemTotal"))
		}
	},
	cpuinfo: sameBytes,
	online:  sameBytes,
	stat: func(t *testing.T, a, b string) {
		la, lb := mustStat(t, a), mustStat(t, b)
		if !slices.Equal(statNames(la), statNames(lb)) {
			t.Errorf("line names differ:\n%v\n%v", statNames(la), statNames(lb))
		}
		if x, y := statLineNamed(t, la, "btime"), statLineNamed(t, lb, "btime"); !slices.Equal(x.Fields, y.Fields) {
			t.Errorf("btime differs: %v vs %v", x.Fields, y.Fields)
		}
	},
	uptime: func(t *testing.T, a, b string) {
		ua, _ := mustUptime(t, a)
		ub, _ := mustUptime(t, b)
		if math.Abs(ua-ub) > 2 {
			t.Errorf("uptime %q vs %q", a, b)
		}
	},
}

func sameBytes(t *testing.T, a, b string) {
	t.Helper()
	if a != b {
		t.Errorf("copies differ:\n%q\n%q", a, b)
	}
}

// readInChunks opens path and read(2)s it to EOF n bytes at a time.
func readInChunks(t *testing.T, path string, n int) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []byte
	buf := make([]byte, n)
	for {
		k, err := unix.Read(int(f.Fd()), buf)
		if err != nil {
			t.Fatalf("read(%d bytes) at offset %d of %s: %v", n, len(out), path, err)
		}
		if k == 0 {
			return string(out)
		}
		if k > n {
			t.Fatalf("read returned %d > %d bytes", k, n)
		}
		out = append(out, buf[:k]...)
		if len(out) > 1<<20 {
			t.Fatalf("%s: more than 1 MiB read in %d-byte reads; no EOF", path, n)
		}
	}
}

func TestSmallReads(t *testing.T) {
	d := setup(t)
	for file, same := range readFiles {
		t.Run(file, func(t *testing.T) {
			for _, n := range []int{1, 7} {
				chunked := readInChunks(t, d.Path(file), n)
				full := readInChunks(t, d.Path(file), 1<<20)
				if chunked == "" {
					t.Fatalf("%d-byte reads gave nothing", n)
				}
				same(t, chunked, full)
			}
		})
	}
}

// TestOffsets: a read at offset 0 takes a snapshot; reads at other offsets
// slice it, even a second later; lseek(0) + read takes a fresh one; reads
// at or past the end return 0 bytes.
func TestOffsets(t *testing.T) {
	d := setup(t)
	type open struct {
		f    *os.File
		head string // the first 10 bytes, from pread at 0
		full string // the whole snapshot, from pread at 0
	}
	files := map[string]*open{}
	for file := range readFiles {
		f, err := os.Open(d.Path(file))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		o := &open{f: f, head: pread(t, f, 10, 0)}
		rest := pread(t, f, 1<<20, 10)
		if err := parseAny(file, o.head+rest); err != nil {
			t.Errorf("%s: 10 bytes at 0 + the rest at 10 do not parse: %v", file, err)
		}
		o.full = pread(t, f, 1<<20, 0)
		files[file] = o
	}
	time.Sleep(1100 * time.Millisecond) // uptime and stat move on

	for file, o := range files {
		t.Run(file, func(t *testing.T) {
			off := min(5, len(o.full)/2)
			if got := pread(t, o.f, 1<<20, int64(off)); got != o.full[off:] {
				t.Errorf("pread at %d, 1.1s after the offset-0 read:\n%q\nwant the snapshot's tail\n%q", off, got, o.full[off:])
			}
			n := int64(len(o.full))
			for _, off := range []int64{n, n + 5, n + 4096} {
				buf := make([]byte, 10)
				k, err := unix.Pread(int(o.f.Fd()), buf, off)
				if err != nil || k != 0 {
					t.Errorf("pread at %d (content is %d bytes) = %d bytes, %v; want 0 bytes, no error", off, n, k, err)
				}
			}
		})
	}
	t.Run("lseek 0 refreshes", func(t *testing.T) {
		f := files[uptime].f
		before, _ := mustUptime(t, files[uptime].full)
		if _, err := f.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		k, err := f.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := mustUptime(t, string(buf[:k]))
		if after-before < 1.0 || after-before > 3 {
			t.Errorf("uptime %.2f then %.2f after lseek(0) 1.1s later; want it to advance by ~1.1", before, after)
		}
	})
}

func pread(t *testing.T, f *os.File, n int, off int64) string {
	t.Helper()
	buf := make([]byte, n)
	k, err := unix.Pread(int(f.Fd()), buf, off)
	if err != nil {
		t.Fatalf("pread(%s, %d, %d): %v", f.Name(), n, off, err)
	}
	return string(buf[:k])
}

func parseAny(file, s string) error {
	var err error
	switch file {
	case meminfo:
		_, err = parseMeminfo(s)
	case stat:
		_, err = parseStat(s)
	case uptime:
		_, _, err = parseUptime(s)
	case cpuinfo:
		if len(processorLines(s)) == 0 {
			err = errors.New("no processor line")
		}
	case online:
		if !strings.HasSuffix(s, "\n") || strings.TrimSpace(s) == "" {
			err = errors.New("not a CPU list")
		}
	}
	return err
}

// TestTools: st_size is an upper bound of the content, so that sendfile
// (busybox cat), tail and wc all see the whole file.
func TestTools(t *testing.T) {
	d := setup(t)
	for _, file := range []string{meminfo, cpuinfo, stat, uptime, online, swaps} {
		fi, err := os.Stat(d.Path(file))
		if err != nil {
			t.Fatal(err)
		}
		full := readInChunks(t, d.Path(file), 1<<20)
		if fi.Size() < int64(len(full)) {
			t.Errorf("%s: st_size = %d, smaller than the content's %d bytes", file, fi.Size(), len(full))
		}
		if got := sendfileAll(t, d.Path(file)); len(got) < len(full)/2 || len(strings.Fields(string(got))) != len(strings.Fields(full)) {
			t.Errorf("%s: sendfile gave %d bytes %q, want the content (%d bytes)", file, len(got), got, len(full))
		}
	}
	for _, file := range []string{meminfo, stat} {
		out, err := exec.Command("tail", "-1", d.Path(file)).Output()
		if err != nil {
			t.Fatal(err)
		}
		full := readInChunks(t, d.Path(file), 1<<20)
		last := lines(full)[len(lines(full))-1]
		if got, want := strings.Fields(string(out)), strings.Fields(last); len(got) == 0 || got[0] != want[0] {
			t.Errorf("tail -1 %s = %q, want the last line %q", file, out, last)
		}
	}
	for _, file := range []string{meminfo, cpuinfo} {
		cmd := exec.Command("wc", "-c")
		f, err := os.Open(d.Path(file))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = f
		out, err := cmd.Output()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		full := readInChunks(t, d.Path(file), 1<<20)
		if got, _ := strconv.Atoi(strings.TrimSpace(string(out))); got != len(full) {
			t.Errorf("wc -c < %s = %d, want %d", file, got, len(full))
		}
	}
}

// TestReadOnly: nothing under the mount can be written, created, removed
// or chmod'ed, not even by root; unknown names do not exist.
func TestReadOnly(t *testing.T) {
	d := setup(t)
	for _, file := range []string{meminfo, online} {
		for _, flag := range []int{os.O_WRONLY, os.O_RDWR} {
			f, err := os.OpenFile(d.Path(file), flag, 0)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, unix.EACCES) {
				t.Errorf("open %s with flags %#x: %v, want EACCES", file, flag, err)
			}
		}
	}
	for _, rel := range []string{"proc/nonexistent", cpuDir + "/cpu99"} {
		if _, err := os.Stat(d.Path(rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat %s: %v, want ENOENT", rel, err)
		}
	}
	if err := os.Mkdir(d.Path("proc/newdir"), 0o755); err == nil {
		t.Error("mkdir proc/newdir succeeded")
	}
	if err := os.WriteFile(d.Path("proc/newfile"), nil, 0o644); err == nil {
		t.Error("creating proc/newfile succeeded")
	}
	if err := os.Remove(d.Path(meminfo)); err == nil {
		t.Error("unlink proc/meminfo succeeded")
	}
	if err := os.Rename(d.Path(meminfo), d.Path("proc/renamed")); err == nil {
		t.Error("rename proc/meminfo succeeded")
	}
	if err := os.Chmod(d.Path(meminfo), 0o666); err == nil {
		t.Error("chmod proc/meminfo succeeded")
	}
	for rel, want := range map[string]fs.FileMode{meminfo: 0o444, online: 0o444, "proc": fs.ModeDir | 0o555} {
		fi, err := os.Stat(d.Path(rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode(), want)
		}
	}
}

// sendfileAll copies path into a pipe with sendfile(2), as busybox cat does.
func sendfileAll(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	n, err := unix.Sendfile(p[1], int(f.Fd()), nil, 60000)
	if err != nil {
		t.Fatalf("sendfile %s: %v", path, err)
	}
	buf := make([]byte, n)
	m, _ := unix.Read(p[0], buf)
	return buf[:m]
}

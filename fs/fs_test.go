package fs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// fakeContent renders a multi-line file whose first line counts renders, so
// tests can tell a fresh copy from a sliced one.
type fakeContent struct {
	renders atomic.Int64
	view    proc.CPUView
	fail    error
}

func (f *fakeContent) Render(dst []byte, file vfiles.File, tid int) ([]byte, error) {
	if f.fail != nil {
		return dst, f.fail
	}
	n := f.renders.Add(1)
	dst = fmt.Appendf(dst, "render %d file %d\n", n, file)
	for i := range 40 {
		dst = fmt.Appendf(dst, "line %02d of a file that is long enough to need several reads\n", i)
	}
	return dst, nil
}

func (f *fakeContent) CPUView(tid int) (proc.CPUView, error) { return f.view, nil }

// SizeHint is one page above the fake content, as the real one is.
func (f *fakeContent) SizeHint(file vfiles.File) uint64 { return 8192 }

// fakeSys makes a small host sysfs: cpu0..cpu3, each with a topology file,
// cpu0 without an online file (as on x86), and a symlink.
func fakeSys(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	cpu := filepath.Join(root, "devices/system/cpu")
	for i := range 4 {
		d := filepath.Join(cpu, fmt.Sprintf("cpu%d", i))
		must(t, os.MkdirAll(filepath.Join(d, "topology"), 0o755))
		must(t, os.WriteFile(filepath.Join(d, "topology/core_id"), fmt.Appendf(nil, "%d\n", i), 0o444))
		if i > 0 {
			must(t, os.WriteFile(filepath.Join(d, "online"), []byte("1\n"), 0o644))
		}
		must(t, os.Symlink("../../../../bus/cpu", filepath.Join(d, "subsystem")))
	}
	for name, v := range map[string]string{"online": "0-3\n", "present": "0-3\n", "possible": "0-7\n", "offline": "4-7\n", "kernel_max": "8191\n"} {
		must(t, os.WriteFile(filepath.Join(cpu, name), []byte(v), 0o444))
	}
	must(t, os.MkdirAll(filepath.Join(cpu, "vulnerabilities"), 0o755))
	must(t, os.WriteFile(filepath.Join(cpu, "vulnerabilities/meltdown"), []byte("Not affected\n"), 0o444))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mountFake(t *testing.T, c *fakeContent) string {
	t.Helper()
	mnt, _ := mountFS(t, New(Options{Content: c, SysFS: fakeSys(t)}))
	return mnt
}

// mountFS mounts f on a fresh directory (mountWith, default options).
func mountFS(t *testing.T, f *FS) (string, *Server) {
	t.Helper()
	return mountWith(t, f, ServerOptions{})
}

// mountWith mounts f with opts on a fresh directory (FUSE_DEBUG=1 traces
// requests). A cleanup unmounts it unless the test has already.
func mountWith(t *testing.T, f *FS, opts ServerOptions) (string, *Server) {
	t.Helper()
	testenv.RequireMountAndCgroups(t)
	mnt := t.TempDir()
	opts.Debug = os.Getenv("FUSE_DEBUG") != ""
	srv, err := testMount(mnt, f, opts)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-srv.Ended():
			return
		default:
		}
		if err := testUnmount(srv); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return mnt, srv
}

func TestReadSemantics(t *testing.T) {
	c := &fakeContent{view: proc.CPUView{Host: []int{1, 3}}}
	mnt := mountFake(t, c)
	path := filepath.Join(mnt, "proc/meminfo")

	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) < 2000 {
		t.Fatalf("content is %d bytes, want the whole fake file", len(whole))
	}

	for _, chunk := range []int{1, 7, 4096} {
		t.Run(fmt.Sprintf("chunks of %d", chunk), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got []byte
			buf := make([]byte, chunk)
			for {
				n, err := f.Read(buf)
				got = append(got, buf[:n]...)
				if n == 0 || err != nil {
					break
				}
			}
			// One consistent copy: exactly one header line, and the
			// rest identical to a whole read.
			if strings.Count(string(got), "render ") != 1 {
				t.Fatalf("pieces came from more than one render:\n%s", got)
			}
			if !bytes.Equal(afterFirstLine(got), afterFirstLine(whole)) {
				t.Fatalf("reassembled content differs from a whole read")
			}
		})
	}

	t.Run("pread slices the last offset-0 copy", func(t *testing.T) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		head := make([]byte, 10)
		if _, err := f.ReadAt(head, 0); err != nil {
			t.Fatal(err)
		}
		before := c.renders.Load()
		rest := make([]byte, 8192)
		n, _ := f.ReadAt(rest, 10)
		if c.renders.Load() != before {
			t.Fatalf("a read at offset 10 rendered again")
		}
		got := append(head, rest[:n]...)
		if !bytes.HasPrefix(got, []byte("render ")) || !bytes.Equal(afterFirstLine(got), afterFirstLine(whole)) {
			t.Fatalf("pread pieces do not form one copy:\n%s", got)
		}
	})

	t.Run("lseek 0 gives a fresh copy", func(t *testing.T) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		a := make([]byte, 64)
		f.Read(a)
		f.Seek(0, 0)
		b := make([]byte, 64)
		f.Read(b)
		if bytes.Equal(firstLine(a), firstLine(b)) {
			t.Fatalf("second read after lseek(0) was not regenerated: %q", firstLine(b))
		}
	})

	t.Run("reads at or past the end return 0 bytes", func(t *testing.T) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		all := make([]byte, 1<<16)
		n, _ := f.ReadAt(all, 0)
		for _, off := range []int64{int64(n), int64(n) + 5, 1 << 40} {
			m, err := f.ReadAt(make([]byte, 10), off)
			if m != 0 || (err != nil && err.Error() != "EOF") {
				t.Errorf("pread at %d (size %d): %d bytes, %v; want 0, EOF", off, n, m, err)
			}
		}
	})

	t.Run("size is an upper bound that tail, wc and sendfile live with", func(t *testing.T) {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() < int64(len(whole)) || st.Mode().Perm() != 0o444 {
			t.Fatalf("size %d mode %v, want >= %d and 0444", st.Size(), st.Mode(), len(whole))
		}
		// sendfile goes through the page cache, which stops at st_size.
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var p [2]int
		must(t, unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK))
		defer unix.Close(p[0])
		defer unix.Close(p[1])
		n, err := unix.Sendfile(p[1], int(f.Fd()), nil, 1<<16)
		if err != nil || n < len(whole)-40 {
			t.Fatalf("sendfile: %d bytes, %v; want about %d", n, err, len(whole))
		}
		out, err := exec.Command("tail", "-1", path).Output()
		if err != nil || string(out) != string(lastLine(whole)) {
			t.Errorf("tail -1 = %q, %v; want %q", out, err, lastLine(whole))
		}
		// The fake's first line grows by a digit now and then.
		out, err = exec.Command("sh", "-c", "wc -c < "+path).Output()
		got, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil || got < len(whole) || got > len(whole)+2 {
			t.Errorf("wc -c = %q, %v; want %d", out, err, len(whole))
		}
	})
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return append(b[bytes.LastIndexByte(b, '\n')+1:], '\n')
}

func afterFirstLine(b []byte) []byte {
	_, rest, _ := bytes.Cut(b, []byte("\n"))
	return rest
}

func firstLine(b []byte) []byte {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	return l
}

func TestNothingIsWritable(t *testing.T) {
	mnt := mountFake(t, &fakeContent{view: proc.CPUView{Host: []int{0}}})
	for _, p := range []string{"proc/meminfo", "sys/devices/system/cpu/online", "sys/devices/system/cpu/cpu0/topology/core_id"} {
		for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC} {
			f, err := os.OpenFile(filepath.Join(mnt, p), flag, 0)
			if err == nil {
				f.Close()
				t.Errorf("open %s with flags %#x succeeded", p, flag)
			} else if !errors.Is(err, syscall.EACCES) {
				t.Errorf("open %s with flags %#x: %v, want EACCES", p, flag, err)
			}
		}
	}
	if err := unix.Access(filepath.Join(mnt, "proc/meminfo"), unix.W_OK); !errors.Is(err, syscall.EACCES) {
		t.Errorf("access(W_OK): %v, want EACCES", err)
	}
	if err := os.Mkdir(filepath.Join(mnt, "proc/x"), 0o755); err == nil {
		t.Errorf("mkdir succeeded")
	}
	if err := os.Remove(filepath.Join(mnt, "proc/meminfo")); err == nil {
		t.Errorf("unlink succeeded")
	}
	if err := os.Chmod(filepath.Join(mnt, "proc/meminfo"), 0o666); err == nil {
		t.Errorf("chmod succeeded")
	}
	if err := os.Truncate(filepath.Join(mnt, "proc/meminfo"), 0); err == nil {
		t.Errorf("truncate succeeded")
	}
}

func TestUnknownNames(t *testing.T) {
	mnt := mountFake(t, &fakeContent{view: proc.CPUView{Host: []int{1}}})
	for _, p := range []string{"proc/nonexistent", "nope", "sys/devices/system/cpu/cpu99", "sys/devices/system/cpu/cpu0", "sys/class"} {
		if _, err := os.Stat(filepath.Join(mnt, p)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("stat %s: %v, want ENOENT", p, err)
		}
	}
}

func TestTreeListings(t *testing.T) {
	mnt := mountFake(t, &fakeContent{view: proc.CPUView{Host: []int{1, 3}}})
	cases := map[string][]string{
		"":                            {"proc", "sys"},
		"proc":                        {"cpuinfo", "diskstats", "loadavg", "meminfo", "pressure", "slabinfo", "stat", "swaps", "uptime"},
		"sys":                         {"block", "devices"},
		"sys/devices/system/cpu":      {"cpu1", "cpu3", "kernel_max", "offline", "online", "possible", "present", "vulnerabilities"},
		"sys/devices/system/cpu/cpu1": {"online", "subsystem", "topology"},
	}
	for dir, want := range cases {
		des, err := os.ReadDir(filepath.Join(mnt, dir))
		if err != nil {
			t.Fatalf("readdir %q: %v", dir, err)
		}
		var got []string
		for _, de := range des {
			got = append(got, de.Name())
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("readdir %q = %v, want %v", dir, got, want)
		}
	}
	// Virtual lists come from content, cpuN/online reads from content too,
	// everything else mirrors the host.
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		return string(b)
	}
	if got := read("sys/devices/system/cpu/cpu3/topology/core_id"); got != "3\n" {
		t.Errorf("core_id = %q, want the host's", got)
	}
	if got := read("sys/devices/system/cpu/kernel_max"); got != "8191\n" {
		t.Errorf("kernel_max = %q", got)
	}
	if got, err := os.Readlink(filepath.Join(mnt, "sys/devices/system/cpu/cpu1/subsystem")); err != nil || got != "../../../../bus/cpu" {
		t.Errorf("readlink = %q, %v", got, err)
	}
	if got := read("sys/devices/system/cpu/online"); !strings.HasPrefix(got, "render ") || !strings.Contains(got, fmt.Sprintf("file %d\n", vfiles.CPUOnline)) {
		t.Errorf("online was not rendered by content: %q", got)
	}
}

func TestConcurrentReadersOneHandle(t *testing.T) {
	mnt := mountFake(t, &fakeContent{view: proc.CPUView{Host: []int{0}}})
	f, err := os.Open(filepath.Join(mnt, "proc/stat"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<16)
			for range 50 {
				n, err := f.ReadAt(buf, 0)
				if n == 0 && err != nil {
					t.Errorf("read: %v", err)
					return
				}
				if !bytes.HasPrefix(buf[:n], []byte("render ")) {
					t.Errorf("bad content %q", buf[:min(n, 40)])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestRenderErrorIsReported(t *testing.T) {
	mnt := mountFake(t, &fakeContent{fail: fmt.Errorf("wrapped: %w", content.ErrCallerGone)})
	_, err := os.ReadFile(filepath.Join(mnt, "proc/meminfo"))
	if !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("read with a vanished caller: %v, want ESRCH", err)
	}
}

// TestPollTurnedOff: after mounting, the kernel asks POLL once (our own
// hack file) and never again, so a Go process opening files on its own
// mount cannot deadlock with the garbage collector.
func TestPollTurnedOff(t *testing.T) {
	mnt, srv := mountFS(t, New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)}))
	if n := srv.polls.Load(); n != 1 {
		t.Fatalf("%d POLL requests after mounting, want 1 (the hack file's)", n)
	}
	fd, err := unix.Open(filepath.Join(mnt, "proc/meminfo"), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ep, err := unix.EpollCreate1(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	epollAdd(ep, fd)
	if n := srv.polls.Load(); n != 1 {
		t.Fatalf("%d POLL requests after an epoll_ctl, want still 1", n)
	}
}

// TestEntryLifetimes: names of the fixed tree are cached by the kernel for
// staticEntryTTL (a periodic reader pays no LOOKUP), names whose existence
// depends on the caller (cpuN) are never cached, and attributes follow the
// host's 0.5 s.
func TestEntryLifetimes(t *testing.T) {
	fs := New(Options{Content: &fakeContent{view: proc.CPUView{Host: []int{0}}}, SysFS: fakeSys(t)})
	hdr := func(node uint64) *fuse.InHeader {
		return &fuse.InHeader{NodeId: node, Caller: fuse.Caller{Pid: uint32(os.Getpid())}}
	}
	entry := func(out *fuse.EntryOut) time.Duration {
		return time.Duration(out.EntryValid)*time.Second + time.Duration(out.EntryValidNsec)
	}
	attr := func(out *fuse.EntryOut) time.Duration {
		return time.Duration(out.AttrValid)*time.Second + time.Duration(out.AttrValidNsec)
	}
	for _, c := range []struct {
		parent uint64
		name   string
		entry  time.Duration
	}{
		{idRoot, "proc", staticEntryTTL},
		{idProc, "meminfo", staticEntryTTL},
		{idPressure, "cpu", staticEntryTTL},
		{idSysSystem, "cpu", staticEntryTTL},
		{idSysCPU, "cpu0", 0},
		{idSysCPU, "online", staticTTL},
	} {
		var out fuse.EntryOut
		if st := fs.Lookup(nil, hdr(c.parent), c.name, &out); !st.Ok() {
			t.Fatalf("lookup %s: %v", c.name, st)
		}
		if got := entry(&out); got != c.entry {
			t.Errorf("%s: entry lifetime %v, want %v", c.name, got, c.entry)
		}
		if got := attr(&out); got != staticTTL {
			t.Errorf("%s: attribute lifetime %v, want %v", c.name, got, staticTTL)
		}
	}
}

// A released handle's content buffer serves the next open, emptied; one
// larger than maxPooledContent is dropped.
func TestContentBuffersReused(t *testing.T) {
	t.Parallel()
	fs := &FS{contentBufs: make(chan []byte, 4)}
	h := &handle{buf: make([]byte, 100, 4096), valid: true}
	fs.releaseContent(h)
	if h.buf != nil || h.valid {
		t.Fatalf("released handle keeps its content: %d bytes, valid %v", len(h.buf), h.valid)
	}
	if b := fs.contentBuf(); len(b) != 0 || cap(b) != 4096 {
		t.Fatalf("next buffer: len %d cap %d, want the released one, empty", len(b), cap(b))
	}
	fs.releaseContent(&handle{buf: make([]byte, 0, maxPooledContent+1)})
	fs.releaseContent(nil)
	if b := fs.contentBuf(); b != nil {
		t.Fatalf("an oversized buffer was kept (cap %d)", cap(b))
	}
}

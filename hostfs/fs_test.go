package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/lxcfs-go/lxcfs-go/internal/fakeclock"
)

// newClock is a settable clock for an FS.
func newClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1e9, 0)) }

// realFS is an FS on the real procfs and sysfs with a clock the test moves.
func realFS(t *testing.T, sys string) (*FS, *fakeclock.Clock) {
	t.Helper()
	for _, name := range []string{"/proc/meminfo", "/proc/cpuinfo"} {
		if _, err := os.Stat(name); err != nil {
			t.Skip(err)
		}
	}
	c := newClock()
	f := New(Options{SysFS: sys, Now: c.Now})
	t.Cleanup(f.Close)
	return f, c
}

// write replaces name's content the way a fixture changes: by rename.
func write(t *testing.T, name, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// Host files outside procfs and sysfs (fixtures) are read afresh every
// time, cpuinfo and meminfo included, whatever the clock says.
func TestFixtureFilesFresh(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	online := filepath.Join(dir, "devices/system/cpu/online")
	cpuinfo := filepath.Join(dir, "cpuinfo")
	meminfo := filepath.Join(dir, "meminfo")
	write(t, online, "0-1\n")
	f := New(Options{ProcFS: dir, SysFS: dir, Now: newClock().Now})
	for _, v := range []string{"a", "b"} {
		write(t, cpuinfo, "processor\t: "+v+"\n")
		write(t, meminfo, "MemTotal: "+v+" kB\n")
		if b, err := f.CPUInfo(); err != nil || string(b) != "processor\t: "+v+"\n" {
			t.Fatalf("cpuinfo = %q, %v", b, err)
		}
		if b, err := f.Meminfo(); err != nil || string(b) != "MemTotal: "+v+" kB\n" {
			t.Fatalf("meminfo = %q, %v", b, err)
		}
	}
	for _, want := range []string{"0-3\n", "0\n"} {
		write(t, online, want)
		if got, err := f.CPUOnline(); err != nil || got != want {
			t.Fatalf("online = %q, %v; want %q", got, err, want)
		}
	}
	os.Remove(online)
	if got, err := f.CPUOnline(); !errors.Is(err, fs.ErrNotExist) || got != "" {
		t.Fatalf("missing online = %q, %v", got, err)
	}
	if _, err := f.ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

// The same online text comes back as the same string, so that callers
// can key what they derive from it on the text cheaply.
func TestCPUOnlineSameString(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "devices/system/cpu/online"), "0-7\n")
	f := New(Options{ProcFS: dir, SysFS: dir})
	a, err1 := f.CPUOnline()
	b, err2 := f.CPUOnline()
	if err1 != nil || err2 != nil || a != "0-7\n" || b != a {
		t.Fatalf("online = %q, %q (%v, %v)", a, b, err1, err2)
	}
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("an unchanged online list came back as a new string")
	}
}

// The host's /proc/meminfo and /proc/stat are read once per TTL of the
// FS's clock: a read within it gets the same text, a read after it a new
// one.
func TestHostTextReusedWithinTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		read func(*FS) ([]byte, error)
		ttl  time.Duration
	}{
		{"meminfo", (*FS).Meminfo, MeminfoTTL},
		{"stat", (*FS).Stat, StatTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, c := realFS(t, "")
			a, err := tc.read(f)
			if err != nil || len(a) == 0 {
				t.Fatalf("%s: %q, %v", tc.name, a, err)
			}
			c.Add(tc.ttl - time.Nanosecond)
			if b, _ := tc.read(f); &b[0] != &a[0] {
				t.Fatalf("a read within %v read the file again", tc.ttl)
			}
			c.Add(time.Nanosecond)
			if b, _ := tc.read(f); &b[0] == &a[0] {
				t.Fatalf("a read after %v served the copy made before it", tc.ttl)
			}
		})
	}
}

// /proc/cpuinfo is reused for CPUInfoTTL while the online list stays the
// same, and read again at once when it changes (hotplug). The online list
// here is a fixture, so the test can change it.
func TestCPUInfoReusedUntilTTLOrHotplug(t *testing.T) {
	t.Parallel()
	sys := t.TempDir()
	online := filepath.Join(sys, "devices/system/cpu/online")
	write(t, online, "0-1\n")
	f, c := realFS(t, sys)
	a, err := f.CPUInfo()
	if err != nil || len(a) == 0 {
		t.Fatalf("cpuinfo: %q, %v", a, err)
	}
	c.Add(CPUInfoTTL - time.Nanosecond)
	if b, _ := f.CPUInfo(); &b[0] != &a[0] {
		t.Fatal("a read within CPUInfoTTL read the file again")
	}
	write(t, online, "0\n")
	b, _ := f.CPUInfo()
	if &b[0] == &a[0] {
		t.Fatal("a read after the online list changed served the old copy")
	}
	if d, _ := f.CPUInfo(); &d[0] != &b[0] {
		t.Fatal("the copy read after hotplug was not reused")
	}
	c.Add(CPUInfoTTL)
	if d, _ := f.CPUInfo(); &d[0] == &b[0] {
		t.Fatalf("a read after %v served the copy made before it", CPUInfoTTL)
	}
	// Without an online list nothing is reused.
	os.Remove(online)
	x, _ := f.CPUInfo()
	if y, _ := f.CPUInfo(); &x[0] == &y[0] {
		t.Fatal("cpuinfo reused without an online list")
	}
}

// The real files read as os.ReadFile reads them (modulo counters that
// tick), and other files than meminfo and cpuinfo are never reused.
func TestRealFiles(t *testing.T) {
	t.Parallel()
	f, _ := realFS(t, "")
	for _, name := range []string{"/proc/meminfo", "/proc/uptime", "/proc/loadavg", "/proc/stat", "/proc/cpuinfo", "/sys/devices/system/cpu/online"} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Skip(err)
		}
		for range 3 {
			got, err := f.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 || firstLineKey(got) != firstLineKey(want) {
				t.Fatalf("%s: got %q..., want %q...", name, firstLineKey(got), firstLineKey(want))
			}
		}
		if SingleRecord(name) != f.Kept(name) {
			t.Errorf("%s: kept = %v, want %v", name, f.Kept(name), SingleRecord(name))
		}
	}
	// The kernel's uptime moves every 10 ms: the frozen clock of the FS
	// must not keep it.
	b1, _ := f.ReadFile("/proc/uptime")
	for range 100 {
		if b2, _ := f.ReadFile("/proc/uptime"); string(b2) != string(b1) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("/proc/uptime never changed: served from a stale copy")
}

func firstLineKey(b []byte) string {
	for i, c := range b {
		if c == ' ' || c == ':' || c == '\n' || c == '\t' {
			return string(b[:i])
		}
	}
	return string(b)
}

// A file on an ordinary file system is never kept open: a fixture replaced
// by rename reads as the new file.
func TestReadFileOrdinaryNotKept(t *testing.T) {
	t.Parallel()
	f := New(Options{})
	name := filepath.Join(t.TempDir(), "memory.limit_in_bytes")
	write(t, name, "1\n")
	if b, err := f.ReadFile(name); err != nil || string(b) != "1\n" {
		t.Fatalf("first read = %q, %v", b, err)
	}
	if f.Kept(name) {
		t.Fatal("fd of an ordinary file kept")
	}
	write(t, name, "2\n")
	if b, err := f.ReadFile(name); err != nil || string(b) != "2\n" {
		t.Fatalf("after replace = %q, %v", b, err)
	}
	os.Remove(name)
	if _, err := f.ReadFile(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after remove: err = %v, want not exist", err)
	}
}

// A large one-record file is read whole, in one generation.
func TestReadFileGrowsBuffer(t *testing.T) {
	t.Parallel()
	name := filepath.Join(t.TempDir(), "memory.stat")
	want := strings.Repeat("total_cache 12345678\n", 2000) // 42 KB
	write(t, name, want)
	if b, err := New(Options{}).ReadFile(name); err != nil || string(b) != want {
		t.Fatalf("read %d bytes, %v; want %d", len(b), err, len(want))
	}
}

// The kept fd of a /proc/<pid> file belongs to that process: once it is
// gone the read fails as gone, never with the dead process's text.
func TestReadFileProcessGone(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	f := New(Options{})
	name := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat"
	b, err := f.ReadFile(name)
	if err != nil || !strings.Contains(string(b), "(sleep)") {
		t.Fatalf("read %q, %v", b, err)
	}
	if !f.Kept(name) {
		t.Skip("/proc is not procfs here")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if b, err := f.ReadFile(name); err == nil {
		t.Fatalf("read of a reaped process = %q, want an error", b)
	} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("err = %v, want a gone error", err)
	}
	if f.Kept(name) {
		t.Fatal("fd of a reaped process still kept")
	}
}

// ReadRecord keeps a kernel file open whatever its name; ReadWhole never
// does.
func TestReadRecordAndWhole(t *testing.T) {
	t.Parallel()
	f, _ := realFS(t, "")
	if b, err := f.ReadRecord("/proc/uptime"); err != nil || len(b) == 0 || !f.Kept("/proc/uptime") {
		t.Errorf("ReadRecord(/proc/uptime) = %q, %v; kept %v", b, err, f.Kept("/proc/uptime"))
	}
	const name = "/proc/self/stat"
	if b, err := f.ReadWhole(name); err != nil || len(b) == 0 || f.Kept(name) {
		t.Errorf("ReadWhole(%s) = %q, %v; kept %v", name, b, err, f.Kept(name))
	}
}

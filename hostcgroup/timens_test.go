package hostcgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestParseTimensOffsets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want int64
		err  bool
	}{
		{"initial namespace", "monotonic           0         0\nboottime            0         0\n", 0, false},
		{"negative boottime", "monotonic 0 0\nboottime -86400 250000000\n", -86400*1e9 + 250000000, false},
		{"clock ids of Linux 5.6", "1 0 0\n7 3600 0\n", 3600 * 1e9, false},
		{"no boottime line", "monotonic 5 0\n", 0, false},
		{"empty", "", 0, false},
		{"missing nanoseconds", "boottime 5\n", 0, true},
		{"nanoseconds out of range", "boottime 5 1000000000\n", 0, true},
		{"negative nanoseconds", "boottime 5 -1\n", 0, true},
		{"seconds not a number", "boottime x 0\n", 0, true},
		{"seconds beyond the kernel's bound", "boottime 9223372036854775807 0\n", 0, true},
	} {
		got, err := ParseTimensOffsets([]byte(tc.in))
		if tc.err {
			if !errors.Is(err, ErrParse) {
				t.Errorf("%s: err %v, want ErrParse", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}

func FuzzParseTimensOffsets(f *testing.F) {
	f.Add([]byte("monotonic 0 0\nboottime -100 5\n"))
	f.Add([]byte("7 1 999999999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseTimensOffsets(b)
		checkParseErr(t, err)
	})
}

// TestBoottimeOffset: a thread in the daemon's time namespace has no offset;
// one in another has its offset relative to the daemon's; a thread whose
// time_for_children differs from its own namespace has no known offset.
func TestBoottimeOffset(t *testing.T) {
	t.Parallel()
	procfs := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		p := filepath.Join(procfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// ns links as procfs shows them: symlinks reading "time:[<inode>]".
	ns := func(name string, inode int) {
		t.Helper()
		p := filepath.Join(procfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fmt.Sprintf("time:[%d]", inode), p); err != nil {
			t.Fatal(err)
		}
	}
	mi, err := os.ReadFile("testdata/hybrid/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	write("self/mountinfo", string(mi))
	// The daemon itself runs with a boottime offset of 10 s.
	ns("self/ns/time", 1)
	ns("self/ns/time_for_children", 1)
	write("self/timens_offsets", "monotonic 0 0\nboottime 10 0\n")
	// 20 shares the daemon's namespace.
	ns("20/ns/time", 1)
	ns("20/ns/time_for_children", 1)
	write("20/timens_offsets", "monotonic 0 0\nboottime 10 0\n")
	// 30 is in a container's namespace, booted an hour after the host.
	ns("30/ns/time", 3)
	ns("30/ns/time_for_children", 3)
	write("30/timens_offsets", "monotonic 0 0\nboottime -3590 500000000\n")
	// 40 has unshared a new one and not forked.
	ns("40/ns/time", 1)
	ns("40/ns/time_for_children", 4)
	write("40/timens_offsets", "monotonic 0 0\nboottime -5 0\n")
	// 50 is in a namespace of its own with a malformed file.
	ns("50/ns/time", 5)
	ns("50/ns/time_for_children", 5)
	write("50/timens_offsets", "boottime 1\n")
	// 60 shares 40's new namespace, which its file shows.
	ns("60/ns/time", 4)
	ns("60/ns/time_for_children", 4)
	write("60/timens_offsets", "monotonic 0 0\nboottime -5 0\n")

	wd, _ := os.Getwd()
	v, err := New(Options{ProcFS: procfs, MountPrefix: filepath.Join(wd, "testdata/hybrid")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tid   int
		nanos int64
		ok    bool
		err   bool
		gone  bool
	}{
		{tid: 20},
		{tid: 30, nanos: -3600*1e9 + 500000000, ok: true},
		{tid: 40},
		{tid: 50, err: true},
		{tid: 60, nanos: -15 * 1e9, ok: true},
		{tid: 70, err: true, gone: true},
	} {
		nanos, ok, err := v.BoottimeOffset(tc.tid)
		if (err != nil) != tc.err || nanos != tc.nanos || ok != tc.ok {
			t.Errorf("BoottimeOffset(%d) = %d, %v, %v; want %d, %v, error %v", tc.tid, nanos, ok, err, tc.nanos, tc.ok, tc.err)
		}
		if tc.gone && !errors.Is(err, ErrNoProcess) {
			t.Errorf("BoottimeOffset(%d) of a gone thread: %v, want ErrNoProcess", tc.tid, err)
		}
	}
}

// TestBoottimeOffsetNoTimeNS: a kernel without time namespaces has no
// ns/time; nobody has an offset.
func TestBoottimeOffsetNoTimeNS(t *testing.T) {
	t.Parallel()
	wd, _ := os.Getwd()
	v, err := New(Options{ProcFS: filepath.Join(wd, "testdata/hybrid/proc"), MountPrefix: filepath.Join(wd, "testdata/hybrid")})
	if err != nil {
		t.Fatal(err)
	}
	if nanos, ok, err := v.BoottimeOffset(1); nanos != 0 || ok || err != nil {
		t.Errorf("BoottimeOffset = %d, %v, %v; want 0, false, nil", nanos, ok, err)
	}
}

// TestBoottimeOffsetLive: this process shares the daemon's (its own) time
// namespace.
func TestBoottimeOffsetLive(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skipf("no time namespaces here: %v", err)
	}
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if nanos, ok, err := v.BoottimeOffset(os.Getpid()); nanos != 0 || ok || err != nil {
		t.Errorf("BoottimeOffset(self) = %d, %v, %v; want 0, false, nil", nanos, ok, err)
	}
}

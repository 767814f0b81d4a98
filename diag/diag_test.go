package diag

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseRelease(t *testing.T) {
	for _, c := range []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.18.44-fc-v857", 6, 18, true},
		{"6.1.0-28-amd64", 6, 1, true},
		{"5.10", 5, 10, true},
		{"6.11rc3", 6, 11, true},
		{"unknown", 0, 0, false},
		{"", 0, 0, false},
	} {
		a, b, ok := parseRelease(c.in)
		if ok != c.ok || (ok && (a != c.major || b != c.minor)) {
			t.Errorf("parseRelease(%q) = %d, %d, %v", c.in, a, b, ok)
		}
	}
}

// FuzzParseRelease: any osrelease text parses or is refused, never panics.
func FuzzParseRelease(f *testing.F) {
	f.Add("6.18.44-fc-v857")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		if a, b, ok := parseRelease(s); ok && (a < 0 && !strings.HasPrefix(s, "-") || b < 0) {
			t.Fatalf("%q: %d.%d", s, a, b)
		}
	})
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	if h, _ := probe(dir, time.Second); h != "error" {
		t.Errorf("missing meminfo: %s", h)
	}
	os.MkdirAll(filepath.Join(dir, "proc"), 0o755)
	os.WriteFile(filepath.Join(dir, "proc/meminfo"), nil, 0o644)
	if h, d := probe(dir, time.Second); h != "error" || !strings.Contains(d, "empty") {
		t.Errorf("empty meminfo: %s %s", h, d)
	}
	os.WriteFile(filepath.Join(dir, "proc/meminfo"), []byte("MemTotal: 1 kB\n"), 0o644)
	if h, _ := probe(dir, time.Second); h != "ok" {
		t.Errorf("good meminfo: %s", h)
	}
	// A FIFO blocks the open as a hung FUSE daemon would.
	hung := t.TempDir()
	os.MkdirAll(filepath.Join(hung, "proc"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(hung, "proc/meminfo"), 0o600); err != nil {
		t.Skip(err)
	}
	if h, _ := probe(hung, 200*time.Millisecond); h != "hung" {
		t.Errorf("blocked open: %s", h)
	}
	// Unblock the probe's goroutine.
	if f, err := os.OpenFile(filepath.Join(hung, "proc/meminfo"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}

func TestInstanceCheck(t *testing.T) {
	c := instanceCheck([]Instance{{MountPoint: "/a", Ours: true, Health: "dead"}, {MountPoint: "/b", Health: "ok"}})
	if c.Status != Warn || !strings.Contains(c.Detail, "/a: dead") {
		t.Errorf("%+v", c)
	}
	if c := instanceCheck(nil); c.Status != Info {
		t.Errorf("%+v", c)
	}
}

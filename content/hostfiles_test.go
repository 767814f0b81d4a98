package content

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// The host's online list is parsed when its text changes; an unreadable or
// empty one gives CPU 0 alone.
func TestHostOnlineSet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	online := filepath.Join(dir, "devices/system/cpu/online")
	if err := os.MkdirAll(filepath.Dir(online), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Source{hostFS: hostfs.New(hostfs.Options{ProcFS: dir, SysFS: dir})}
	for _, c := range []struct{ text, want string }{
		{"0-3\n", "0-3"},
		{"0-3\n", "0-3"},
		{"1,3\n", "1,3"},
		{"\n", "0"},  // empty
		{"x\n", "0"}, // unparsable
	} {
		if err := os.WriteFile(online, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := s.hostOnlineSet(); got.String() != c.want {
			t.Errorf("online %q: set %v, want %s", c.text, got, c.want)
		}
	}
	os.Remove(online)
	if got := s.hostOnlineSet(); got.String() != "0" {
		t.Errorf("missing online: set %v, want 0", got)
	}
}

// Each file reads its own host file: cpuinfo and meminfo through the
// caches, the others by path.
func TestReadHostFixture(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &Source{hostFS: hostfs.New(hostfs.Options{ProcFS: dir, SysFS: dir})}
	s.opts.ProcFS, s.opts.SysFS = dir, dir
	for _, f := range []vfiles.File{vfiles.Meminfo, vfiles.CPUInfo, vfiles.Stat, vfiles.Swaps, vfiles.PressureIO, vfiles.CPUPresent} {
		name := s.HostPath(f)
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(hostName(f)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := s.readHost(f); err != nil || string(b) != hostName(f)+"\n" {
			t.Errorf("%s: %q, %v", hostName(f), b, err)
		}
	}
	if _, err := s.readHost(vfiles.Uptime); !os.IsNotExist(err) {
		t.Errorf("missing uptime: err = %v", err)
	}
}

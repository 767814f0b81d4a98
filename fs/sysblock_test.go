package fs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// diskContent serves a fixed container diskstats.
type diskContent struct {
	fakeContent
	diskstats string
}

func (d *diskContent) Render(dst []byte, f vfiles.File, tid int) ([]byte, error) {
	if f == vfiles.Diskstats && d.fail == nil {
		return append(dst, d.diskstats...), nil
	}
	return d.fakeContent.Render(dst, f, tid)
}

// fakeBlock adds block devices to a fake sysfs as the kernel lays them
// out: sda (8:0) with partition sda1 (8:1) below a PCI device, loop0 (7:0)
// under virtual, and /sys/block links to the disks.
func fakeBlock(t *testing.T, sys string) {
	t.Helper()
	const stat17 = "    9000      100   800000     5000     7000      200   600000     9000        0    12000    14000       50        0     4096       10      300       20\n"
	for _, d := range []struct{ dir, dev string }{
		{"devices/pci0000:00/0000:00:02.0/block/sda", "8:0"},
		{"devices/pci0000:00/0000:00:02.0/block/sda/sda1", "8:1"},
		{"devices/virtual/block/loop0", "7:0"},
	} {
		dir := filepath.Join(sys, d.dir)
		must(t, os.MkdirAll(filepath.Join(dir, "queue"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "dev"), []byte(d.dev+"\n"), 0o444))
		must(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat17), 0o444))
		must(t, os.WriteFile(filepath.Join(dir, "size"), []byte("1000\n"), 0o444))
	}
	must(t, os.WriteFile(filepath.Join(sys, "devices/pci0000:00/0000:00:02.0/block/sda/sda1/partition"), []byte("1\n"), 0o444))
	must(t, os.MkdirAll(filepath.Join(sys, "block"), 0o755))
	must(t, os.Symlink("../devices/pci0000:00/0000:00:02.0/block/sda", filepath.Join(sys, "block/sda")))
	must(t, os.Symlink("../devices/virtual/block/loop0", filepath.Join(sys, "block/loop0")))
	// Not a block device: no dev file.
	must(t, os.MkdirAll(filepath.Join(sys, "block/junk"), 0o755))
}

// TestSysBlock: sys/block has every host disk and partition with only a
// stat file, each the device's line of the caller's diskstats in the
// kernel's sysfs format.
func TestSysBlock(t *testing.T) {
	sys := fakeSys(t)
	fakeBlock(t, sys)
	c := &diskContent{diskstats: "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" +
		"   8       0 sda 0 0 3248 0 0 0 16416 0 0 0 0 0 0 0 0 0 0\n"}
	mnt, _ := mountFS(t, New(Options{Content: c, SysFS: sys}))
	block := filepath.Join(mnt, "sys/block")
	list := func(rel string) []string {
		t.Helper()
		des, err := os.ReadDir(filepath.Join(block, rel))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		slices.Sort(names)
		return names
	}
	for rel, want := range map[string][]string{
		"":         {"loop0", "sda"},
		"sda":      {"sda1", "stat"},
		"sda/sda1": {"stat"},
		"loop0":    {"stat"},
	} {
		if got := list(rel); !slices.Equal(got, want) {
			t.Errorf("sys/block/%s lists %v, want %v", rel, got, want)
		}
	}
	for rel, want := range map[string]string{
		"sda/stat":      "       0        0     3248        0        0        0    16416        0        0        0        0        0        0        0        0        0        0\n",
		"sda/sda1/stat": "       0        0        0        0        0        0        0        0        0        0        0        0        0        0        0        0        0\n",
		"loop0/stat":    "       0        0        0        0        0        0        0        0        0        0        0        0        0        0        0        0        0\n",
	} {
		b, err := os.ReadFile(filepath.Join(block, rel))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want {
			t.Errorf("sys/block/%s = %q, want %q", rel, b, want)
		}
	}
	for _, rel := range []string{"junk", "sda/queue", "sda/size", "sda/dev", "sda/sda1/dev", "nope", "nope/stat", "loop0/sda1"} {
		if _, err := os.Stat(filepath.Join(block, rel)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("stat sys/block/%s: %v, want ENOENT", rel, err)
		}
	}
	st, err := os.Stat(filepath.Join(block, "sda/stat"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != 0o444 {
		t.Errorf("sys/block/sda/stat mode %v, want read-only", st.Mode())
	}
	if f, err := os.OpenFile(filepath.Join(block, "sda/stat"), os.O_WRONLY, 0); !errors.Is(err, syscall.EACCES) {
		if f != nil {
			f.Close()
		}
		t.Errorf("open sys/block/sda/stat for writing: %v, want EACCES", err)
	}
	// A device that goes away: its stat file goes with it.
	must(t, os.Remove(filepath.Join(sys, "block/loop0")))
	if got := list(""); !slices.Equal(got, []string{"sda"}) {
		t.Errorf("after loop0 left, sys/block lists %v", got)
	}
}

// TestSysBlockErrors: a render error of diskstats or a bad dev file is an
// error of the read, not a panic or the host's numbers.
func TestSysBlockErrors(t *testing.T) {
	sys := fakeSys(t)
	fakeBlock(t, sys)
	c := &diskContent{fakeContent: fakeContent{fail: syscall.ESRCH}}
	mnt, _ := mountFS(t, New(Options{Content: c, SysFS: sys}))
	if _, err := os.ReadFile(filepath.Join(mnt, "sys/block/sda/stat")); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("read with a failing diskstats: %v, want ESRCH", err)
	}
	must(t, os.WriteFile(filepath.Join(sys, "devices/virtual/block/loop0/dev"), []byte("garbage\n"), 0o444))
	mnt, _ = mountFS(t, New(Options{Content: &diskContent{diskstats: "   7       0 loop0 1 2 3 4 5 6 7 8 9 10 11\n"}, SysFS: sys}))
	if b, err := os.ReadFile(filepath.Join(mnt, "sys/block/loop0/stat")); err == nil {
		t.Errorf("read with a bad dev file: %q, want an error", b)
	}
}

package upgrade

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

func TestReadMountinfo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mountinfo")
	content := "25 1 0:22 / / rw - ext4 /dev/vda rw\n" +
		"412 25 0:53 /proc/meminfo /proc/meminfo rw,nosuid - fuse.lxcfs lxcfs-go rw,user_id=0\n" +
		"413 25 0:53 / /var/lib/with\\040space rw shared:1 - fuse.lxcfs lxcfs-go rw\n"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := hostfs.ReadMountinfo(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("%d mounts", len(ms))
	}
	// What findDead compares and keeps.
	type entry struct{ dev, root, point, fstype, source string }
	m := ms[1]
	got := entry{m.Dev, m.Root, m.MountPoint, m.FSType, m.Source}
	want := entry{dev: "0:53", root: "/proc/meminfo", point: "/proc/meminfo", fstype: "fuse.lxcfs", source: "lxcfs-go"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if ms[2].MountPoint != "/var/lib/with space" {
		t.Errorf("unescaped mount point %q", ms[2].MountPoint)
	}
}

func TestMountHistory(t *testing.T) {
	pid := filepath.Join(t.TempDir(), "lxcfs.pid")
	for i := range 70 {
		if err := RecordMount(pid, "0:"+string(rune('0'+i%10))); err != nil {
			t.Fatal(err)
		}
	}
	devs, err := ReadMountHistory(pid)
	if err != nil || len(devs) != 64 {
		t.Fatalf("history: %v, %d entries, want 64", err, len(devs))
	}
}

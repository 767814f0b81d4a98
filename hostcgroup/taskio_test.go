package hostcgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ioFile(read, write, cancelled string) string {
	return "rchar: 999999\nwchar: 999999\nsyscr: 77\nsyscw: 88\nread_bytes: " + read +
		"\nwrite_bytes: " + write + "\ncancelled_write_bytes: " + cancelled + "\n"
}

func TestParseTaskIO(t *testing.T) {
	r, w, c, err := ParseTaskIO([]byte(ioFile("4096", "8192", "512")))
	if err != nil || r != 4096 || w != 8192 || c != 512 {
		t.Errorf("got %d %d %d %v", r, w, c, err)
	}
	for name, in := range map[string]string{
		"empty":        "",
		"no write":     "read_bytes: 1\n",
		"not a number": "read_bytes: x\nwrite_bytes: 1\n",
		"negative":     "read_bytes: -1\nwrite_bytes: 1\n",
		"overflow":     "read_bytes: 99999999999999999999999\nwrite_bytes: 1\n",
	} {
		if _, _, _, err := ParseTaskIO([]byte(in)); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err %v, want ErrParse", name, err)
		}
	}
}

// TestTaskIO: on a v1 host whose blkio throttle files count nothing (Linux
// 6.10+ without throttle rules), diskstats' counts come from the per-task
// accounting of the subtree's processes, each process once, never going
// down; a device with cgroup counts wins; the root cgroup gets nil.
func TestTaskIO(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) { t.Helper(); writeFile(t, filepath.Join(root, p), s) }
	write("proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"+
		"31 25 0:27 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n")
	write("proc/100/cgroup", "2:blkio:/ct\n1:cpu:/ct\n")
	write("sys/fs/cgroup/cpu/cgroup.procs", "1\n")
	write("sys/fs/cgroup/cpu/ct/cgroup.procs", "100\n101\n")
	write("sys/fs/cgroup/cpu/ct/sub/cgroup.procs", "102\n101\n999\ngarbage\n")
	write("sys/fs/cgroup/cpu/other/cgroup.procs", "200\n")
	write("sys/fs/cgroup/blkio/ct/blkio.throttle.io_serviced_recursive", "Total 0\n")
	write("sys/fs/cgroup/blkio/ct/blkio.throttle.io_service_bytes_recursive", "Total 0\n")
	write("proc/100/io", ioFile("1000", "0", "0"))
	write("proc/101/io", ioFile("20", "5000", "1000"))
	write("proc/102/io", ioFile("3", "300", "0"))
	write("proc/200/io", ioFile("1", "1", "0"))
	v, err := New(Options{ProcFS: filepath.Join(root, "proc"), MountPrefix: root})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	v.now = func() time.Time { return now }
	cg, err := v.Cgroups(100)
	if err != nil {
		t.Fatal(err)
	}
	read := func() *IO { t.Helper(); return v.Snapshot(cg, WantIO).IO }
	// 101 is listed twice and counted once; 999 has no io file (exited);
	// 200 is another cgroup's.
	want := &IO{Devices: map[Dev]IOCounters{}, Tasks: &TaskIO{ReadBytes: 1023, WriteBytes: 4300}}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// 102 exits unreaped (its counts are lost): the counters stay.
	if err := os.Remove(filepath.Join(root, "proc/102/io")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("after a loss (-want +got):\n%s", diff)
	}
	// The rest do more: the counters move on from the larger of the two.
	write("proc/100/io", ioFile("2000", "0", "0"))
	now = now.Add(time.Second)
	if diff := cmp.Diff(&IO{Devices: map[Dev]IOCounters{}, Tasks: &TaskIO{ReadBytes: 2020, WriteBytes: 4300}}, read()); diff != "" {
		t.Errorf("after more reads (-want +got):\n%s", diff)
	}

	// Within taskIOTTL a sum is reused.
	write("proc/100/io", ioFile("9000", "0", "0"))
	now = now.Add(taskIOTTL / 2)
	if got := read().Tasks.ReadBytes; got != 2020 {
		t.Errorf("within the TTL: read bytes %d, want 2020", got)
	}

	// A throttle rule makes the v1 files list the device: the cgroup
	// stays on per-task accounting (a switch would make counters jump
	// back), while a cgroup first seen with listed devices uses them.
	for _, ct := range []string{"ct", "ct2"} {
		write("sys/fs/cgroup/blkio/"+ct+"/blkio.throttle.io_serviced_recursive", "8:0 Read 3\n8:0 Write 0\nTotal 3\n")
		write("sys/fs/cgroup/blkio/"+ct+"/blkio.throttle.io_service_bytes_recursive", "8:0 Read 12288\nTotal 12288\n")
	}
	write("sys/fs/cgroup/cpu/ct2/cgroup.procs", "200\n")
	now = now.Add(time.Second)
	if got := read(); got.Tasks == nil || len(got.Devices) != 0 {
		t.Errorf("a cgroup on per-task accounting switched to the throttle files: %+v", got)
	}
	want = &IO{Devices: map[Dev]IOCounters{{8, 0}: {ReadIOs: 3, ReadBytes: 12288}}}
	ct2 := Cgroups{V1: map[string]string{"cpu": "/ct2", "blkio": "/ct2"}}
	if diff := cmp.Diff(want, v.Snapshot(ct2, WantIO).IO); diff != "" {
		t.Errorf("with throttle counts (-want +got):\n%s", diff)
	}
	// Listed with zero counts is known too (before Linux 6.10 every
	// device is listed).
	write("sys/fs/cgroup/blkio/ct2/blkio.throttle.io_serviced_recursive", "8:0 Read 0\nTotal 0\n")
	write("sys/fs/cgroup/blkio/ct2/blkio.throttle.io_service_bytes_recursive", "8:0 Read 0\nTotal 0\n")
	want = &IO{Devices: map[Dev]IOCounters{{8, 0}: {}}}
	if diff := cmp.Diff(want, v.Snapshot(ct2, WantIO).IO); diff != "" {
		t.Errorf("listed without counts (-want +got):\n%s", diff)
	}

	if got := v.Snapshot(Cgroups{V1: map[string]string{"cpu": "/", "blkio": "/"}}, WantIO).IO; got != nil {
		t.Errorf("root cgroup: %+v, want nil (the host's file)", got)
	}
	// A cgroup gone: no counts, but still not the host's.
	got := v.Snapshot(Cgroups{V1: map[string]string{"cpu": "/gone", "blkio": "/gone"}}, WantIO).IO
	if got == nil || got.Tasks != nil || len(got.Devices) != 0 {
		t.Errorf("removed cgroup: %+v, want no counts", got)
	}
}

// TestTaskIORestartedCgroup: a cgroup made again under the same name does
// not inherit the kept counts of the one before.
func TestTaskIORestartedCgroup(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) { t.Helper(); writeFile(t, filepath.Join(root, p), s) }
	write("proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")
	write("proc/100/cgroup", "1:cpu:/ct\n")
	write("sys/fs/cgroup/cpu/ct/cgroup.procs", "100\n")
	write("proc/100/io", ioFile("1000", "1000", "0"))
	v, err := New(Options{ProcFS: filepath.Join(root, "proc"), MountPrefix: root})
	if err != nil {
		t.Fatal(err)
	}
	cg := Cgroups{V1: map[string]string{"cpu": "/ct"}}
	if got := v.Snapshot(cg, WantIO).IO.Tasks.ReadBytes; got != 1000 {
		t.Fatalf("read bytes %d, want 1000", got)
	}
	// Moved away rather than removed, so that the new directory cannot
	// reuse the old inode number (the kernel's cgroup inodes are never
	// reused; a test file system's are).
	if err := os.Rename(filepath.Join(root, "sys/fs/cgroup/cpu/ct"), filepath.Join(root, "old")); err != nil {
		t.Fatal(err)
	}
	write("sys/fs/cgroup/cpu/ct/cgroup.procs", "100\n")
	write("proc/100/io", ioFile("10", "10", "0"))
	if got := v.Snapshot(cg, WantIO).IO.Tasks.ReadBytes; got != 10 {
		t.Errorf("read bytes %d after the cgroup was made again, want 10", got)
	}
}

// TestIOStatEmptyIsKnown: on v2 an io.stat without lines is a cgroup that
// did no I/O, not a reason to use per-task accounting.
func TestIOStatEmptyIsKnown(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) { t.Helper(); writeFile(t, filepath.Join(root, p), s) }
	write("proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
	write("sys/fs/cgroup/cgroup.controllers", "cpu io memory\n")
	write("sys/fs/cgroup/ct/io.stat", "")
	write("sys/fs/cgroup/ct/cgroup.procs", "100\n")
	write("proc/100/io", ioFile("1000", "1000", "0"))
	v, err := New(Options{ProcFS: filepath.Join(root, "proc"), MountPrefix: root})
	if err != nil {
		t.Fatal(err)
	}
	got := v.Snapshot(Cgroups{HasUnified: true, Unified: "/ct"}, WantIO).IO
	if diff := cmp.Diff(&IO{Devices: map[Dev]IOCounters{}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Without io.stat (the io controller not enabled for the cgroup):
	// per-task accounting.
	if err := os.Remove(filepath.Join(root, "sys/fs/cgroup/ct/io.stat")); err != nil {
		t.Fatal(err)
	}
	got = v.Snapshot(Cgroups{HasUnified: true, Unified: "/ct"}, WantIO).IO
	if got == nil || got.Tasks == nil || got.Tasks.ReadBytes != 1000 {
		t.Errorf("without io.stat: %+v, want per-task counts", got)
	}
}

package hostcgroup

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTasks counts threads by state over a cgroup subtree, on a made-up v1
// host whose /proc has a stat file per thread.
func TestTasks(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) { t.Helper(); writeFile(t, filepath.Join(root, p), s) }
	write("proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")
	write("proc/100/cgroup", "1:cpu:/ct\n")
	write("sys/fs/cgroup/cpu/tasks", "1\n2\n")
	write("sys/fs/cgroup/cpu/ct/tasks", "100\n101\n")
	write("sys/fs/cgroup/cpu/ct/sub/tasks", "102\n103\n999\n")
	write("sys/fs/cgroup/cpu/ct/sub/deeper/tasks", "104\ngarbage\n")
	write("sys/fs/cgroup/cpu/other/tasks", "200\n")
	for tid, state := range map[string]string{"100": "S", "101": "R", "102": "D", "103": "R", "104": "Z", "200": "R", "1": "R"} {
		write("proc/"+tid+"/stat", tid+" (a (strange) name) "+state+" 1 1 1\n")
	}
	v, err := New(Options{ProcFS: filepath.Join(root, "proc"), MountPrefix: root})
	if err != nil {
		t.Fatal(err)
	}
	cg, err := v.Cgroups(100)
	if err != nil {
		t.Fatal(err)
	}
	got := v.Snapshot(cg, WantTasks).Tasks
	// 999 has no stat file (exited) and "garbage" is no tid: neither counts;
	// the sibling "other" and the root are outside the subtree.
	want := &Tasks{Total: 5, Running: 2, Blocked: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	if got := v.Snapshot(Cgroups{V1: map[string]string{"cpu": "/"}}, WantTasks).Tasks; got != nil {
		t.Errorf("root cgroup: %+v, want nil (the host's counts apply)", got)
	}
	if got := v.Snapshot(Cgroups{V1: map[string]string{"cpu": "/gone"}}, WantTasks).Tasks; got != nil {
		t.Errorf("removed cgroup: %+v, want nil", got)
	}

	// A count is reused for taskCountTTL, for readers of the same cgroup
	// only, and each reader gets its own copy to adjust.
	now := time.Unix(1000, 0)
	v.now = func() time.Time { return now }
	first := v.Snapshot(cg, WantTasks).Tasks
	first.Running = 42
	write("proc/101/stat", "101 (x) S 1 1 1\n")
	now = now.Add(taskCountTTL / 2)
	if diff := cmp.Diff(want, v.Snapshot(cg, WantTasks).Tasks); diff != "" {
		t.Errorf("within the TTL (-want +got):\n%s", diff)
	}
	other := Cgroups{V1: map[string]string{"cpu": "/other"}}
	if diff := cmp.Diff(&Tasks{Total: 1, Running: 1}, v.Snapshot(other, WantTasks).Tasks); diff != "" {
		t.Errorf("another cgroup within the TTL (-want +got):\n%s", diff)
	}
	now = now.Add(taskCountTTL)
	if diff := cmp.Diff(&Tasks{Total: 5, Running: 1, Blocked: 1}, v.Snapshot(cg, WantTasks).Tasks); diff != "" {
		t.Errorf("after the TTL (-want +got):\n%s", diff)
	}
}

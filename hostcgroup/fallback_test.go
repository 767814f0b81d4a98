package hostcgroup

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/fallback"
)

// reasons collects what a View reports through OnFallback.
type reasons struct {
	mu  sync.Mutex
	got []fallback.Reason
}

func (r *reasons) on(x fallback.Reason) { r.mu.Lock(); r.got = append(r.got, x); r.mu.Unlock() }

func (r *reasons) take() []fallback.Reason {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	slices.Sort(out)
	return out
}

// TestFallbackReasons: every part of a snapshot of the broken fixture that
// is left out (or partly out) because its files are garbage or gone is
// reported once, with its reason; optional files that are absent (memsw,
// slabinfo) are not fallbacks.
func TestFallbackReasons(t *testing.T) {
	t.Parallel()
	root := filepath.Join("testdata", "broken")
	var r reasons
	v, err := New(Options{ProcFS: root + "/proc", MountPrefix: root, OnFallback: r.on})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pid  int
		want []fallback.Reason
	}{
		{7001, []fallback.Reason{fallback.Memory}},
		{7002, []fallback.Reason{fallback.Memory}},
		{7003, []fallback.Reason{fallback.CPUSet}},
		{7004, []fallback.Reason{fallback.CPUUsage}},
		// The cgroup directories are gone: each part falls back.
		{7005, []fallback.Reason{fallback.Memory, fallback.CPUSet, fallback.CPUUsage}},
		{7006, []fallback.Reason{fallback.Memory}},
		{7007, []fallback.Reason{fallback.Swap, fallback.Swappiness}},
		{7008, []fallback.Reason{fallback.CPUQuota}},
		{7009, []fallback.Reason{fallback.CgroupRemoved}},
	} {
		cg, err := v.Cgroups(tt.pid)
		if err != nil {
			t.Fatal(err)
		}
		v.Snapshot(cg, all)
		if diff := cmp.Diff(tt.want, r.take()); diff != "" {
			t.Errorf("pid %d: reasons (-want +got):\n%s", tt.pid, diff)
		}
	}
}

func TestFallbackOutsideHierarchy(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "proc/self/mountinfo"), "61 60 0:26 /lxc/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
	writeFile(t, filepath.Join(root, "proc/11/cgroup"), "1:memory:/lxc/c2\n")
	var r reasons
	v, err := New(Options{ProcFS: root + "/proc", MountPrefix: root, OnFallback: r.on})
	if err != nil {
		t.Fatal(err)
	}
	cg, err := v.Cgroups(11)
	if err != nil {
		t.Fatal(err)
	}
	v.Snapshot(cg, WantMemory)
	if diff := cmp.Diff([]fallback.Reason{fallback.OutsideHierarchy}, r.take()); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

package hostcgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestCgroupsCacheByContent: the parse cache holds one entry per distinct
// /proc/<pid>/cgroup text, however many processes (and exited pids) share
// it, and a process that moves gets its new cgroups at once.
func TestCgroupsCacheByContent(t *testing.T) {
	procfs := t.TempDir()
	mi, err := os.ReadFile("testdata/hybrid/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, text string) { t.Helper(); writeFile(t, filepath.Join(procfs, rel), text) }
	write("self/mountinfo", string(mi))
	const a = "4:memory:/ct-a\n0::/ct-a\n"
	const b = "4:memory:/ct-b/init.scope\n0::/ct-b/init.scope\n"
	for pid := 100; pid < 1100; pid++ {
		write(fmt.Sprintf("%d/cgroup", pid), a)
	}
	v, err := New(Options{ProcFS: procfs, MountPrefix: "testdata/hybrid"})
	if err != nil {
		t.Fatal(err)
	}
	for pid := 100; pid < 1100; pid++ {
		cg, err := v.Cgroups(pid)
		if err != nil {
			t.Fatal(err)
		}
		if cg.V1["memory"] != "/ct-a" || cg.Unified != "/ct-a" {
			t.Fatalf("pid %d: %+v", pid, cg)
		}
	}
	if n := v.cgroups.len(); n != 1 {
		t.Errorf("%d cache entries for 1000 processes in one cgroup, want 1", n)
	}
	write("100/cgroup", b) // pid 100 moves
	cg, err := v.Cgroups(100)
	if err != nil {
		t.Fatal(err)
	}
	if cg.V1["memory"] != "/ct-b" || cg.Unified != "/ct-b" {
		t.Errorf("moved process: %+v, want /ct-b (init.scope pruned)", cg)
	}
	if cg, _ := v.Cgroups(101); cg.V1["memory"] != "/ct-a" {
		t.Errorf("sibling after the move: %+v", cg)
	}
	if n := v.cgroups.len(); n != 2 {
		t.Errorf("%d cache entries, want 2", n)
	}
}

// TestCgroupsCacheBounded: distinct texts past the bound do not grow the
// cache without end.
func TestCgroupsCacheBounded(t *testing.T) {
	c := newCgroupsCache()
	for i := range 3 * cgroupsCacheMax {
		c.store(fmt.Appendf(nil, "0::/ct-%d\n", i), Cgroups{Unified: fmt.Sprint(i)})
	}
	if n := c.len(); n > 2*cgroupsCacheMax {
		t.Errorf("%d entries, bound 2x%d", n, cgroupsCacheMax)
	}
	if cg, ok := c.lookup([]byte(fmt.Sprintf("0::/ct-%d\n", 3*cgroupsCacheMax-1))); !ok || cg.Unified != fmt.Sprint(3*cgroupsCacheMax-1) {
		t.Errorf("last stored entry: %+v %v", cg, ok)
	}
}

// writeFile writes a fixture file, making its directories.
func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

package integration

import (
	"slices"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestMinOverAncestors: limits are the minimum over the reader's cgroup
// and all its ancestors; the CPU set is the effective one.
func TestMinOverAncestors(t *testing.T) {
	testenv.RequireCPUs(t, 2)
	d := setup(t)
	parent := newCgroup(t)
	parent.MemoryLimit(256 * MiB).CPUs("1")
	leaf := parent.Child("child").Child("leaf") // child: no limit of its own

	leaf.MemoryLimit(512 * MiB)
	v := readAs(t, leaf, d, meminfo, cpuinfo, online)
	if got := memTotal(t, v[meminfo]); got != 262144 {
		t.Errorf("parent 256 MiB, child unlimited, leaf 512 MiB: MemTotal = %d kB, want 262144", got)
	}
	// Only the parent set a cpuset (v1 copies it into new children; on v2
	// the leaf has no cpuset of its own and inherits the effective one).
	if got := processorLines(v[cpuinfo]); len(got) != 1 {
		t.Errorf("parent cpuset 1: processor lines %q, want 1", got)
	}
	if v[online] != "1\n" {
		t.Errorf("parent cpuset 1: online = %q, want \"1\\n\"", v[online])
	}

	leaf.MemoryLimit(128 * MiB)
	if got := memTotal(t, leaf.MustRead(d.Path(meminfo))); got != 131072 {
		t.Errorf("leaf 128 MiB: MemTotal = %d kB, want 131072", got)
	}
}

// TestMinQuotaOverAncestors: with --enable-cfs the quota is also the
// minimum over ancestors (lxcfs 5.0/6.0 read only one cgroup's quota).
func TestMinQuotaOverAncestors(t *testing.T) {
	testenv.RequireCPUs(t, 2)
	d := setup(t, "--enable-cfs")
	parent := newCgroup(t)
	parent.CPUs("0-1").CPUQuota(50000, 100000)
	leaf := parent.Child("child/leaf") // no quota below the parent

	v := readAs(t, leaf, d, cpuinfo, online)
	if got := processorLines(v[cpuinfo]); !slices.Equal(got, []string{"processor\t: 0"}) {
		t.Errorf("parent quota 0.5, leaf unlimited: processor lines %q, want one", got)
	}
	if v[online] != "0\n" {
		t.Errorf("parent quota 0.5, leaf unlimited: online = %q, want \"0\\n\"", v[online])
	}
}

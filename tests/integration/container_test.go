package integration

import (
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestContainerInit: a reader in a pid namespace sees the limits of the
// cgroup of that namespace's init (README, "Whose view"), wherever the reader itself
// sits, and uptime counts from the init's start.
func TestContainerInit(t *testing.T) {
	testenv.RequireCPUs(t, 2)
	d := setup(t)
	ct := newCgroup(t) // the container's cgroup
	ct.MemoryLimit(256 * MiB).CPUs("1")
	sub := ct.Child("sub") // unlimited
	other := newCgroup(t)  // unrelated to the container
	other.MemoryLimit(128 * MiB)
	ns := testenv.StartContainer(t, ct, testenv.ContainerOptions{})

	t.Run("reader in a child cgroup", func(t *testing.T) {
		v := readIn(t, ns, sub, d, meminfo, cpuinfo, uptime)
		if got := memTotal(t, v[meminfo]); got != 262144 {
			t.Errorf("MemTotal = %d kB, want the init's 262144", got)
		}
		if got := processorLines(v[cpuinfo]); len(got) != 1 {
			t.Errorf("processor lines %q, want one (the init's cpuset 1)", got)
		}
		up, idle := mustUptime(t, v[uptime])
		if age := time.Since(ns.Started).Seconds(); up >= 5 || up > age+0.5 {
			t.Errorf("uptime %.2f for an init started %.2fs ago, want < 5 and <= its age", up, age)
		}
		if idle > up*1+0.01 {
			t.Errorf("idle %.2f > uptime %.2f × 1 visible CPU", idle, up)
		}
	})
	t.Run("reader in an unrelated cgroup", func(t *testing.T) {
		// The reader's own cgroup has a smaller limit; only the init's
		// cgroup counts. The same cgroup outside the namespace is the
		// control.
		if got := memTotal(t, readIn(t, ns, other, d, meminfo)[meminfo]); got != 262144 {
			t.Errorf("in the pid namespace: MemTotal = %d kB, want the init's 262144", got)
		}
		if got := memTotal(t, other.MustRead(d.Path(meminfo))); got != 131072 {
			t.Errorf("same cgroup, host pid namespace: MemTotal = %d kB, want its own 131072", got)
		}
	})
}

// TestContainerInitScope: in a systemd container the init sits in
// <ct>/init.scope; the container's view is <ct>'s (the trailing
// /init.scope is dropped), also with a cgroup namespace.
func TestContainerInitScope(t *testing.T) {
	d := setup(t)
	ct := newCgroup(t)
	ct.MemoryLimit(256 * MiB)
	scope := ct.Child("init.scope")
	ns := testenv.StartContainer(t, scope, testenv.ContainerOptions{CgroupNS: true})
	svc := ct.Child("system.slice/foo.service")
	svc.MemoryLimit(128 * MiB)

	for _, cg := range []*testenv.Cgroup{scope, svc} {
		if got := memTotal(t, readIn(t, ns, cg, d, meminfo)[meminfo]); got != 262144 {
			t.Errorf("reader in %s: MemTotal = %d kB, want the container's 262144", cg.Rel(), got)
		}
	}
}

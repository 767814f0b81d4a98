package integration

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestLimits: a reader in a cgroup with 256 MiB, cpuset "1" and a CFS quota
// of 0.5 CPU (ignored without --enable-cfs) sees those limits in every file.
func TestLimits(t *testing.T) {
	testenv.RequireCPUs(t, 2)
	d := setup(t)
	cg := newCgroup(t)
	cg.MemoryLimit(256*MiB).CPUs("1").CPUQuota(50000, 100000)

	ageBefore := pid1Age(t)
	v := readAs(t, cg, d, meminfo, cpuinfo, stat, uptime, swaps,
		online, present, possible, offline, cpuDir+"/cpu1/online")
	ageAfter := pid1Age(t)
	res, err := cg.Do(testenv.Readdir(d.Path(cpuDir)), testenv.Stat(d.Path(cpuDir+"/cpu0")))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("meminfo", func(t *testing.T) {
		m := mustMeminfo(t, v[meminfo])
		if got := m.get(t, "MemTotal"); got != 262144 {
			t.Errorf("MemTotal = %d kB, want 262144", got)
		}
		if free, total := m.get(t, "MemFree"), m.get(t, "MemTotal"); free > total {
			t.Errorf("MemFree %d > MemTotal %d", free, total)
		}
		if avail, total := m.get(t, "MemAvailable"), m.get(t, "MemTotal"); avail > total {
			t.Errorf("MemAvailable %d > MemTotal %d", avail, total)
		}
		host := mustMeminfo(t, hostFile(t, "/proc/meminfo"))
		if diff := cmp.Diff(host.labels(), m.labels()); diff != "" {
			t.Errorf("labels differ from the host's (-host +got):\n%s", diff)
		}
	})
	t.Run("cpuinfo", func(t *testing.T) {
		if got := processorLines(v[cpuinfo]); !slices.Equal(got, []string{"processor\t: 0"}) {
			t.Fatalf("processor lines = %q, want exactly [\"processor\\t: 0\"]", got)
		}
		got, want := parseCPUInfo(v[cpuinfo])[0], hostCPUBlock(t, 1)
		if !slices.Equal(got.Keys, want.Keys) {
			t.Errorf("keys %q, want host CPU 1's %q", got.Keys, want.Keys)
		}
		for _, k := range want.Keys {
			if k == "processor" || k == "cpu MHz" {
				continue
			}
			if got.Vals[k] != want.Vals[k] {
				t.Errorf("%s = %q, want host CPU 1's %q", k, got.Vals[k], want.Vals[k])
			}
		}
	})
	t.Run("sys cpu", func(t *testing.T) {
		for file, want := range map[string]string{online: "1\n", present: "1\n", possible: "1\n", cpuDir + "/cpu1/online": "1\n"} {
			if v[file] != want {
				t.Errorf("%s = %q, want %q", file, v[file], want)
			}
		}
		if got := strings.TrimSpace(v[offline]); got != "" {
			t.Errorf("%s = %q, want empty", offline, v[offline])
		}
		names := res[0].Names
		if got := cpuDirs(names); !slices.Equal(got, []string{"cpu1"}) {
			t.Errorf("cpuN entries of %s = %q, want [cpu1]; listing: %q", cpuDir, got, names)
		}
		if dup := duplicates(names); len(dup) > 0 {
			t.Errorf("%s lists %q more than once: %q", cpuDir, dup, names)
		}
		for _, want := range []string{".", "..", "online", "present", "possible", "offline"} {
			if !slices.Contains(names, want) {
				t.Errorf("%s does not list %q: %q", cpuDir, want, names)
			}
		}
		if err := res[1].Error(); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat %s/cpu0 (not in the cpuset): %v, want ENOENT", cpuDir, err)
		}
	})
	t.Run("stat", func(t *testing.T) {
		lines := mustStat(t, v[stat])
		if got := cpuNames(lines); !slices.Equal(got, []string{"cpu", "cpu1"}) {
			t.Errorf("cpu lines %q, want [cpu cpu1] (physical numbering without --enable-cfs)", got)
		}
		if lines[0].Name != "cpu" {
			t.Errorf("first line is %q, want the aggregate cpu line", lines[0].Name)
		}
		if agg, cpu1 := statLineNamed(t, lines, "cpu"), statLineNamed(t, lines, "cpu1"); !slices.Equal(agg.Fields, cpu1.Fields) {
			t.Errorf("aggregate %v != the only CPU's %v", agg.Fields, cpu1.Fields)
		}
		for _, name := range []string{"intr", "ctxt", "btime", "processes"} {
			statLineNamed(t, lines, name)
		}
	})
	t.Run("uptime", func(t *testing.T) {
		// The reader shares the daemon's pid namespace: its init is host
		// pid 1, so uptime is pid 1's age.
		up, idle := mustUptime(t, v[uptime])
		if up < ageBefore-0.5 || up > ageAfter+0.5 {
			t.Errorf("uptime %.2f, want host pid 1's age, between %.2f and %.2f", up, ageBefore, ageAfter)
		}
		if idle > up*1+0.01 {
			t.Errorf("idle %.2f > uptime %.2f × 1 visible CPU", idle, up)
		}
	})
	t.Run("swaps", func(t *testing.T) {
		if len(lines(hostFile(t, "/proc/swaps"))) > 1 {
			t.Skip("the host has swap")
		}
		if got := lines(v[swaps]); len(got) != 1 || !strings.HasPrefix(got[0], "Filename") {
			t.Errorf("swaps = %q, want the header line only", v[swaps])
		}
	})
}

// TestLimitsCFS: with --enable-cfs the CPU count follows the quota:
// ceil(quota/period) CPUs, renumbered from 0.
func TestLimitsCFS(t *testing.T) {
	testenv.RequireCPUs(t, 2)
	d := setup(t, "--enable-cfs")
	cg := newCgroup(t)
	cg.MemoryLimit(256*MiB).CPUs("0-1").CPUQuota(50000, 100000)

	check := func(t *testing.T, procs []string, list string, cpus []string) {
		t.Helper()
		v := readAs(t, cg, d, cpuinfo, online, present, possible, stat)
		if got := processorLines(v[cpuinfo]); !slices.Equal(got, procs) {
			t.Errorf("processor lines %q, want %q", got, procs)
		}
		for _, f := range []string{online, present, possible} {
			if v[f] != list+"\n" {
				t.Errorf("%s = %q, want %q", f, v[f], list+"\n")
			}
		}
		if got := cpuNames(mustStat(t, v[stat])); !slices.Equal(got, cpus) {
			t.Errorf("stat cpu lines %q, want %q", got, cpus)
		}
	}
	t.Run("quota 0.5", func(t *testing.T) {
		check(t, []string{"processor\t: 0"}, "0", []string{"cpu", "cpu0"})
	})
	cg.CPUQuota(150000, 100000)
	t.Run("quota 1.5", func(t *testing.T) {
		check(t, []string{"processor\t: 0", "processor\t: 1"}, "0-1", []string{"cpu", "cpu0", "cpu1"})
	})
}

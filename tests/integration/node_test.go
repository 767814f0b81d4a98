package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestSysNode: a reader with one CPU and 256 MiB sees, in
// sys/devices/system/node, the node of that CPU with only that CPU and the
// container's memory.
func TestSysNode(t *testing.T) {
	if _, err := os.Stat("/sys/devices/system/node/node0/cpulist"); err != nil {
		t.Skip("the host kernel has no NUMA nodes in sysfs")
	}
	testenv.RequireCPUs(t, 2)
	d := setup(t)
	cg := newCgroup(t)
	cg.MemoryLimit(256 * MiB).CPUs("1")
	const node = "sys/devices/system/node/"
	v := readAs(t, cg, d, node+"online", node+"has_cpu", node+"node0/cpulist", node+"node0/cpumap", node+"node0/meminfo", "proc/meminfo")
	hostNode0, err := os.ReadFile("/sys/devices/system/node/node0/cpulist")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hostNode0), "1") && !strings.Contains(string(hostNode0), "-") {
		t.Skipf("CPU 1 is not on node0 (%q)", hostNode0)
	}
	for file, want := range map[string]string{
		node + "online":        "0\n",
		node + "has_cpu":       "0\n",
		node + "node0/cpulist": "1\n",
	} {
		if v[file] != want {
			t.Errorf("%s = %q, want %q", file, v[file], want)
		}
	}
	if m := strings.TrimLeft(strings.TrimSpace(v[node+"node0/cpumap"]), "0,"); m != "2" {
		t.Errorf("cpumap %q, want CPU 1's bit alone", v[node+"node0/cpumap"])
	}
	var total string
	for _, l := range strings.Split(v[node+"node0/meminfo"], "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[2] == "MemTotal:" {
			total = f[3]
		}
	}
	if total != "262144" {
		t.Errorf("node0 MemTotal %q kB, want 262144 (256 MiB):\n%s", total, v[node+"node0/meminfo"])
	}
}

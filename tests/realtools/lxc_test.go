package realtools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/debroot"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestToolsLXC: the tools in an LXC container with the mount hook of
// hooks/ (docs/lxc.md).
func TestToolsLXC(t *testing.T) {
	testLeg(t, "lxc", startLXC)
}

// lxcConfig is the container's configuration: the rootfs (not LXC's to
// delete), no network but its loopback (up: LXC leaves it down otherwise), LXC's usual /proc, /sys and /dev,
// the suite's limits written the way this host's hierarchies take them
// (lxc.cgroup.* for a controller on a v1 hierarchy, lxc.cgroup2.* on
// cgroup2), a time namespace that boots now, and the hooks of hooks/ on
// the daemon's directory.
func lxcConfig(t *testing.T, c *testenv.LXC, rootfs string, d *testenv.Daemon, bootOffset int) string {
	t.Helper()
	layout, err := testenv.HostLayout()
	if err != nil {
		t.Fatal(err)
	}
	v1 := func(c string) bool { _, ok := layout.V1[c]; return ok }
	hooks, err := filepath.Abs("../../hooks")
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"lxc.uts.name = " + c.Name,
		"lxc.rootfs.path = dir:" + rootfs,
		"lxc.rootfs.managed = 0",
		"lxc.net.0.type = empty",
		"lxc.net.0.flags = up", // the loopback, for node_exporter
		"lxc.autodev = 1",
		"lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
	}
	if v1("memory") {
		lines = append(lines, fmt.Sprintf("lxc.cgroup.memory.limit_in_bytes = %d", memLimit))
	} else {
		lines = append(lines, fmt.Sprintf("lxc.cgroup2.memory.max = %d", memLimit))
	}
	if v1("cpuset") {
		lines = append(lines, "lxc.cgroup.cpuset.cpus = "+cpuset)
	} else {
		lines = append(lines, "lxc.cgroup2.cpuset.cpus = "+cpuset)
	}
	if v1("cpu") {
		lines = append(lines, fmt.Sprintf("lxc.cgroup.cpu.cfs_quota_us = %d", quotaUs),
			fmt.Sprintf("lxc.cgroup.cpu.cfs_period_us = %d", periodUs))
	} else {
		lines = append(lines, fmt.Sprintf("lxc.cgroup2.cpu.max = %d %d", quotaUs, periodUs))
	}
	lines = append(lines,
		fmt.Sprintf("lxc.time.offset.boot = %ds", bootOffset),
		"lxc.hook.mount = "+hooks+"/lxc.mount.hook --lxcfs-dir "+d.Mnt,
		"lxc.hook.post-stop = "+hooks+"/lxc.reboot.hook")
	return strings.Join(lines, "\n") + "\n"
}

// startLXC runs the tools' rootfs as an application container: lxc-execute
// -d, whose init is LXC's own (init.lxc: it reaps, forwards signals and
// runs the command), the command `sleep infinity`, and lxc-attach to run
// the tools. The rootfs is debootstrap's minbase, which has no init
// system to boot, so this is what LXC offers for it; its pid 1 is an init,
// as a system container's is. The container's boot is its start: its
// config's lxc.time.offset.boot is minus the host's uptime, as
// docs/time.md tells LXC users to write it.
func startLXC(t *testing.T, d *testenv.Daemon) *box {
	t.Helper()
	rootfs := debroot.Overlay(t, debroot.Cached(t, toolsRootfs))
	c := testenv.NewLXC(t)
	started := time.Now()
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	hostUp, _ := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	conf := lxcConfig(t, c, rootfs, d, -int(hostUp))
	t.Logf("%s/%s/config:\n%s", c.Path, c.Name, conf)
	if err := os.Mkdir(filepath.Join(c.Path, c.Name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Path, c.Name, "config"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{
		{"lxc-execute", "-P", c.Path, "-n", c.Name, "-d", "-l", "DEBUG", "-o", c.Log, "--", "sleep", "infinity"},
		{"lxc-wait", "-P", c.Path, "-n", c.Name, "-s", "RUNNING", "-t", "30"},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	out, err := exec.Command("lxc-info", "-P", c.Path, "-n", c.Name, "-p", "-H").CombinedOutput()
	if err != nil {
		t.Fatalf("lxc-info: %v\n%s", err, out)
	}
	init, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("lxc-info -p: %q", out)
	}
	return &box{rootfs: rootfs, started: started, init: init,
		// LXC 5's cgroup for a container's processes, in every hierarchy.
		cgroup: "/lxc.payload." + c.Name,
		argv:   c.Attach}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/diag"
)

// fixtureHost builds a fake host root from the hostcgroup fixture tree of
// layout (v1, hybrid, v2, ...) plus the host /proc and /sys files of the
// proc golden host x86-4cpu (4 CPUs, as the hostcgroup trees assume), a
// stat file for each process and a /dev/fuse. It returns the root.
func fixtureHost(t *testing.T, layout string) string {
	t.Helper()
	root := t.TempDir()
	copyTree(t, filepath.Join("../../hostcgroup/testdata", layout), root)
	copyTree(t, "../../proc/testdata/golden/cpuset-4cpu/host", root)
	pids, _ := filepath.Glob(filepath.Join(root, "proc/[0-9]*"))
	for _, p := range pids {
		// starttime (field 22) = 1000 ticks: 10 s after boot.
		stat := filepath.Base(p) + " (init) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0\n"
		write(t, filepath.Join(p, "stat"), stat)
	}
	write(t, filepath.Join(root, "proc/sys/kernel/osrelease"), "6.12.0-test\n")
	write(t, filepath.Join(root, "proc/sys/user/max_user_namespaces"), "1000\n")
	write(t, filepath.Join(root, "proc/pressure/cpu"), "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
	write(t, filepath.Join(root, "proc/loadavg"), "0.10 0.20 0.30 1/100 4242\n")
	write(t, filepath.Join(root, "proc/diskstats"), "   8       0 sda 100 0 2000 50 200 0 4000 60 0 100 110 0 0 0 0 0 0\n   7       1 loop1 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
	write(t, filepath.Join(root, "dev/fuse"), "")
	return root
}

// copyTree copies the fixture tree from into to (os.CopyFS: no file of
// one tree may be in the other).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, name, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func rootArgs(root string) []string {
	return []string{"--procfs", root + "/proc", "--sysfs", root + "/sys", "--cgroup-prefix", root}
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestShowFixtures(t *testing.T) {
	cases := []struct {
		layout string
		pid    int
		// want are substrings of the output of show --explain meminfo
		// cpuinfo online uptime.
		want []string
		// processors is the number of processor blocks of cpuinfo.
		processors int
	}{
		{"v1", 1000, []string{
			"MemTotal:         524288 kB",
			"==> sys/devices/system/cpu/online <==\n1-2\n",
			"min(memory.limit_in_bytes) over /lxc/c1 (cgroup v1 memory at /sys/fs/cgroup/memory) and ancestors [/lxc/c1 512 MiB, /lxc 1 GiB, / unlimited]",
			"SwapTotal", "memory.memsw.limit_in_bytes",
			"cpuset.effective_cpus of /lxc/c1",
		}, 2},
		{"v1", 2000, []string{
			"MemTotal:        1048576 kB",
			"[/lxc/c2 4 GiB, /lxc 1 GiB, / unlimited]",
			"online <==\n0-2\n",
		}, 3},
		{"hybrid", 3000, []string{
			"MemTotal:         262144 kB",
			"over /lxc.payload.c1 (cgroup v1 memory at /sys/fs/cgroup/memory) and ancestors [/lxc.payload.c1 256 MiB, / unlimited]",
			"online <==\n0,2\n",
			"0: no swap accounting",
		}, 2},
		{"v2", 4000, []string{
			"MemTotal:        1048576 kB",
			"min(memory.max) over /machine.slice/c1 (cgroup2 at /sys/fs/cgroup) and ancestors [/machine.slice/c1 unlimited, /machine.slice 1 GiB]",
			"online <==\n2-3\n",
			"min(memory.swap.max)",
		}, 2},
		{"v2", 4100, []string{
			"MemTotal:         524288 kB",
			"[/machine.slice/c2 512 MiB, /machine.slice 1 GiB]",
		}, 2},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d", c.layout, c.pid), func(t *testing.T) {
			root := fixtureHost(t, c.layout)
			args := append([]string{"show", "--no-pidns", "--pid", fmt.Sprint(c.pid), "--explain"}, rootArgs(root)...)
			args = append(args, "meminfo", "proc/cpuinfo", "/sys/devices/system/cpu/online", "uptime")
			code, out, errs := runCmd(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if n := strings.Count(out, "\nprocessor\t:"); n != c.processors {
				t.Errorf("%d processors, want %d", n, c.processors)
			}
			// init started 10 s after boot; the host has been up 376.98 s.
			if !strings.Contains(out, "==> proc/uptime <==\n366.98 ") {
				t.Errorf("uptime not 366.98:\n%s", out)
			}
		})
	}
}

// TestShowExplainsEveryMeminfoField: --explain names the source or rule of
// every meminfo field, on v1, hybrid and v2, whether or not it differs from
// the host's.
func TestShowExplainsEveryMeminfoField(t *testing.T) {
	for _, c := range []struct {
		layout string
		pid    int
	}{{"v1", 1000}, {"hybrid", 3000}, {"v2", 4000}} {
		t.Run(fmt.Sprintf("%s/%d", c.layout, c.pid), func(t *testing.T) {
			root := fixtureHost(t, c.layout)
			args := append([]string{"show", "--no-pidns", "--pid", fmt.Sprint(c.pid), "--explain"}, rootArgs(root)...)
			code, out, errs := runCmd(t, append(args, "meminfo")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			file, explain, ok := strings.Cut(out, "--- proc/meminfo for")
			if !ok {
				t.Fatalf("no explanation:\n%s", out)
			}
			rules := map[string]string{}
			for _, line := range strings.Split(explain, "\n")[1:] {
				if f := strings.Fields(line); len(f) > 0 {
					_, rule, _ := strings.Cut(line, " = ")
					rules[f[0]] = rule
				}
			}
			n := 0
			for _, line := range strings.Split(file, "\n") {
				label, _, ok := strings.Cut(line, ":")
				if !ok || strings.HasPrefix(line, "==>") {
					continue
				}
				n++
				if rule := rules[label]; rule == "" || strings.Contains(rule, "computed from the memory cgroup") {
					t.Errorf("%s: no source or rule: %q", label, rule)
				}
			}
			if n < 40 {
				t.Errorf("only %d fields in\n%s", n, file)
			}
		})
	}
}

// TestShowMatchesHostWithoutLimits: the host's init in the v1 tree has no
// limit, so meminfo's MemTotal stays the host's and --explain says why.
func TestShowNoLimit(t *testing.T) {
	root := fixtureHost(t, "v1")
	code, out, errs := runCmd(t, append(append([]string{"show", "--no-pidns", "--pid", "1", "--explain"}, rootArgs(root)...), "loadavg", "online")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"unchanged  same as the host: loadavg is the host's without -l", "online <==\n0-3\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestShowHybridIO: on the hybrid tree, pressure comes from the cgroup2
// mount and diskstats from v1 blkio, and --explain names both.
func TestShowHybridIO(t *testing.T) {
	root := fixtureHost(t, "hybrid")
	code, out, errs := runCmd(t, append(append([]string{"show", "--no-pidns", "--pid", "3000", "--explain"}, rootArgs(root)...), "pressure/cpu", "diskstats")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{
		"/sys/fs/cgroup/unified/lxc.payload.c1/cpu.pressure",
		"==> proc/diskstats <==\n   8       0 sda ",
		"blkio.throttle.io_serviced_recursive and io_service_bytes_recursive of /lxc.payload.c1",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(out, "   7       1 loop1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n") {
		t.Errorf("a device without I/O in the container is not listed with zeros:\n%s", out)
	}
}

func TestShowErrors(t *testing.T) {
	root := fixtureHost(t, "hybrid")
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"show"}, 2, "no file named"},
		{[]string{"show", "nosuchfile"}, 2, "unknown file"},
		{append(append([]string{"show", "--no-pidns", "--pid", "9999"}, rootArgs(root)...), "meminfo"), 1, "pid 9999"},
		{[]string{"show", "--bogus"}, 2, "flag provided but not defined"},
	} {
		code, _, errs := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", c.args, code, errs, c.code, c.msg)
		}
	}
	code, out, _ := runCmd(t, "show", "--list")
	if code != 0 || !strings.Contains(out, "proc/meminfo") || !strings.Contains(out, "sys/devices/system/cpu/online") {
		t.Errorf("--list: %d %q", code, out)
	}
}

// TestShowSelf renders the real host for this process, when the host has
// cgroups: it must not fail.
func TestShowSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/pid"); err != nil {
		t.Skip("no /proc/self/ns/pid")
	}
	code, out, errs := runCmd(t, "show", "--explain", "meminfo", "stat", "cpuinfo", "uptime", "swaps", "online")
	if code != 0 {
		t.Skipf("show on this host: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "MemTotal:") {
		t.Errorf("no MemTotal in %q", out)
	}
}

func TestCheckFixtures(t *testing.T) {
	for _, c := range []struct {
		layout string
		memory string // version:mount of the memory controller
		swap   diag.Status
	}{
		{"v1", "1:/sys/fs/cgroup/memory", diag.OK},
		{"hybrid", "1:/sys/fs/cgroup/memory", diag.Warn},
		{"v2", "2:/sys/fs/cgroup", diag.OK},
		{"no-memory", "0:", diag.Warn},
	} {
		t.Run(c.layout, func(t *testing.T) {
			root := fixtureHost(t, c.layout)
			code, out, errs := runCmd(t, append([]string{"check", "--json", "--euid", "0", "--devfs", root + "/dev"}, rootArgs(root)...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s%s", code, out, errs)
			}
			var r diag.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if r.Layout != strings.Split(c.layout, "-")[0] && !(c.layout == "no-memory" && r.Layout == "hybrid") {
				t.Errorf("layout %q", r.Layout)
			}
			if !r.CanRun || r.Kernel != "6.12.0-test" {
				t.Errorf("can_run %v, kernel %q", r.CanRun, r.Kernel)
			}
			for _, ctl := range r.Controllers {
				if ctl.Name == "memory" && fmt.Sprintf("%d:%s", ctl.Version, ctl.MountPoint) != c.memory {
					t.Errorf("memory served by %d:%s, want %s", ctl.Version, ctl.MountPoint, c.memory)
				}
			}
			st := map[string]diag.Status{}
			for _, ch := range r.Checks {
				st[ch.Name] = ch.Status
			}
			if st["swap accounting"] != c.swap {
				t.Errorf("swap accounting %q, want %q", st["swap accounting"], c.swap)
			}
			// 6.12: the ioctl (6.11) and FUSE resend (6.9) are there.
			if st["pidns init lookup"] != diag.OK || st["FUSE resend"] != diag.OK || st["/dev/fuse"] != diag.OK {
				t.Errorf("checks %v", st)
			}
			// Human-readable form.
			code, out, _ = runCmd(t, append([]string{"check", "--euid", "0", "--devfs", root + "/dev"}, rootArgs(root)...)...)
			if code != 0 || !strings.Contains(out, "lxcfs-go can run here.") || !strings.Contains(out, "[ok]   /dev/fuse") {
				t.Errorf("text report:\n%s", out)
			}
		})
	}
}

// TestCheckCannotRun: without /dev/fuse, or without root, check says so
// and exits 1; an old kernel gives warnings only.
func TestCheckCannotRun(t *testing.T) {
	root := fixtureHost(t, "hybrid")
	write(t, filepath.Join(root, "proc/sys/kernel/osrelease"), "5.10.0-28-amd64\n")
	code, out, _ := runCmd(t, append([]string{"check", "--euid", "0", "--devfs", root + "/nodev"}, rootArgs(root)...)...)
	if code != 1 || !strings.Contains(out, "[fail] /dev/fuse") || !strings.Contains(out, "cannot run here") {
		t.Errorf("no /dev/fuse: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "[warn] pidns init lookup") || !strings.Contains(out, "[warn] FUSE resend") {
		t.Errorf("5.10 kernel: no warnings\n%s", out)
	}
	code, out, _ = runCmd(t, append([]string{"check", "--euid", "1000", "--devfs", root + "/dev"}, rootArgs(root)...)...)
	if code != 1 || !strings.Contains(out, "[fail] privileges") {
		t.Errorf("non-root: exit %d\n%s", code, out)
	}
}

// TestCheckInstances: fuse.lxcfs mounts in mountinfo are found and probed:
// one answers, one does not exist.
func TestCheckInstances(t *testing.T) {
	root := fixtureHost(t, "v2")
	live := t.TempDir()
	write(t, filepath.Join(live, "proc/meminfo"), "MemTotal: 1 kB\n")
	mi := filepath.Join(root, "proc/self/mountinfo")
	b, _ := os.ReadFile(mi)
	b = append(b, fmt.Sprintf("90 21 0:50 / %s rw,nosuid,nodev,relatime - fuse.lxcfs lxcfs-go rw,user_id=0,group_id=0,allow_other\n", live)...)
	b = append(b, "91 21 0:51 / /nonexistent/mnt rw - fuse.lxcfs lxcfs-go rw\n"...)
	b = append(b, "92 21 0:52 / /var/lib/lxcfs rw - fuse.lxcfs lxcfs rw\n"...)
	write(t, mi, string(b))
	code, out, errs := runCmd(t, append([]string{"check", "--json", "--euid", "0", "--devfs", root + "/dev"}, rootArgs(root)...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r diag.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Instances) != 3 {
		t.Fatalf("instances %+v", r.Instances)
	}
	if in := r.Instances[0]; in.MountPoint != live || !in.Ours || in.Health != "ok" {
		t.Errorf("live instance %+v", in)
	}
	if in := r.Instances[1]; in.Health != "error" {
		t.Errorf("missing instance %+v", in)
	}
	if in := r.Instances[2]; in.Ours {
		t.Errorf("lxcfs instance taken for ours: %+v", in)
	}
}

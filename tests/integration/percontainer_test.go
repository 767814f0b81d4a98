package integration

// Issue 4: per-container loadavg (-l), the --enable-cfs CPU view,
// diskstats and pressure, in real cgroups, side by side with the reference
// lxcfs where it has the feature.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// maybeReference starts the reference lxcfs with args when it is installed
// (it is not in the v2 VM); nil otherwise, and the comparisons are left out.
func maybeReference(t *testing.T, args ...string) *testenv.Daemon {
	t.Helper()
	if _, err := exec.LookPath("lxcfs"); err != nil {
		t.Logf("no reference lxcfs (%v): lxcfs-go alone", err)
		return nil
	}
	return testenv.StartReference(t, args...)
}

// parseLoadavg returns load1 and the running/total field of a loadavg line.
func parseLoadavg(t *testing.T, s string) (load1 float64, running, total int) {
	t.Helper()
	f := strings.Fields(s)
	if len(f) != 5 {
		t.Fatalf("loadavg %q does not have 5 fields", s)
	}
	load1, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatalf("loadavg %q: %v", s, err)
	}
	r, tt, ok := strings.Cut(f[3], "/")
	running, err1 := strconv.Atoi(r)
	total, err2 := strconv.Atoi(tt)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("loadavg %q: bad running/total", s)
	}
	return load1, running, total
}

// TestLoadavgPerContainer: a busy loop in a quota-limited cgroup raises
// that cgroup's loadavg and not an idle cgroup's; the reference lxcfs -l
// shows the same shape (the kernel's formula, 5 s samples).
func TestLoadavgPerContainer(t *testing.T) {
	d := setup(t, "-l", "--enable-cfs")
	ref := maybeReference(t, "-l", "--enable-cfs")
	busy := newCgroup(t).CPUQuota(50000, 100000)
	idle := newCgroup(t)
	if _, err := busy.Start(nil, nil, "sh", "-c", "while :; do :; done"); err != nil {
		t.Fatal(err)
	}
	if _, err := idle.Start(nil, nil, "sleep", "1000"); err != nil {
		t.Fatal(err)
	}
	// The readers are cat, one thread: the first read of a cgroup samples
	// it at once, reader included, and the thread total is kept for
	// TaskListRefresh; the test binary as reader would add its five threads.
	catLoadavg := func(cg *testenv.Cgroup, dm *testenv.Daemon) string {
		t.Helper()
		out, errb, err := cg.Run("cat", dm.Path(loadavg))
		if err != nil {
			t.Fatalf("cat %s: %v: %s", dm.Path(loadavg), err, errb)
		}
		return out
	}
	// The first reads start tracking both cgroups in both daemons.
	for _, dm := range []*testenv.Daemon{d, ref} {
		if dm != nil {
			catLoadavg(busy, dm)
			catLoadavg(idle, dm)
		}
	}
	// Four 5 s samples of one runnable task give 1-(1884/2048)^4 = 0.28.
	var ours, theirs, quiet string
	deadline := time.Now().Add(45 * time.Second)
	for {
		time.Sleep(5 * time.Second)
		ours = catLoadavg(busy, d)
		if l, _, _ := parseLoadavg(t, ours); l >= 0.25 || time.Now().After(deadline) {
			break
		}
	}
	if ref != nil {
		theirs = catLoadavg(busy, ref)
	}
	quiet = catLoadavg(idle, d)
	host := hostFile(t, "/proc/loadavg")
	t.Logf("busy: ours %q, lxcfs %q; idle: ours %q; host %q", ours, theirs, quiet, host)

	l, running, total := parseLoadavg(t, ours)
	if l < 0.25 || l > 1.05 {
		t.Errorf("busy cgroup load1 = %.2f, want 0.25..1.05 (one runnable task)", l)
	}
	if running > 2 || total < 1 || total > 3 {
		t.Errorf("busy cgroup running/total = %d/%d, want the busy loop (and at most the reader)", running, total)
	}
	ql, _, qtotal := parseLoadavg(t, quiet)
	if ql > 0.1 {
		t.Errorf("idle cgroup load1 = %.2f, want about 0: another cgroup's busy loop leaked in", ql)
	}
	if qtotal < 1 || qtotal > 3 {
		t.Errorf("idle cgroup has %d tasks, want the sleep (and at most the reader)", qtotal)
	}
	if ref == nil {
		return
	}
	rl, _, _ := parseLoadavg(t, theirs)
	if rl < 0.15 {
		t.Errorf("lxcfs shows load1 %.2f for the busy cgroup; the comparison needs it rising", rl)
	}
	if diff := l - rl; diff > 0.2 || diff < -0.2 {
		t.Errorf("load1 ours %.2f, lxcfs %.2f: more than a sample apart", l, rl)
	}
}

// TestCPUViewCFS: under --enable-cfs a 0.5-CPU quota shows one CPU in stat
// (as lxcfs), with counters that only go up, across reads and across quota
// changes that add and remove CPUs.
func TestCPUViewCFS(t *testing.T) {
	testenv.RequireCPUs(t, 2)
	d := setup(t, "--enable-cfs")
	ref := maybeReference(t, "--enable-cfs")
	cg := newCgroup(t)
	cg.CPUs("0-1").CPUQuota(50000, 100000)
	if _, err := cg.Start(nil, nil, "sh", "-c", "while :; do :; done"); err != nil {
		t.Fatal(err)
	}
	type sample struct {
		cpus              int
		user, sys, idle   uint64
		ref               int
		refLines, ourText string
	}
	read := func() sample {
		v := readAs(t, cg, d, stat, cpuinfo, online)
		lines := mustStat(t, v[stat])
		agg := statLineNamed(t, lines, "cpu")
		s := sample{cpus: len(cpuNames(lines)) - 1, user: agg.num(0), sys: agg.num(2), idle: agg.num(3), ourText: v[stat]}
		s.ref = s.cpus // without the reference, nothing to compare
		if ref != nil {
			s.ref = len(cpuNames(mustStat(t, readAs(t, cg, ref, stat)[stat]))) - 1
		}
		if n := len(processorLines(v[cpuinfo])); n != s.cpus {
			t.Errorf("cpuinfo has %d processors, stat %d CPUs", n, s.cpus)
		}
		want := "0\n"
		if s.cpus > 1 {
			want = fmt.Sprintf("0-%d\n", s.cpus-1)
		}
		if v[online] != want {
			t.Errorf("online = %q, want %q for %d CPUs", v[online], want, s.cpus)
		}
		return s
	}
	check := func(what string, prev, cur sample) {
		t.Helper()
		if cur.user < prev.user || cur.sys < prev.sys || cur.idle < prev.idle {
			t.Errorf("%s: aggregate went down: user %d->%d system %d->%d idle %d->%d\n%s",
				what, prev.user, cur.user, prev.sys, cur.sys, prev.idle, cur.idle, cur.ourText)
		}
	}
	u0, t0 := cg.CPUUsage(), time.Now()
	s0 := read()
	if s0.cpus != 1 || s0.ref != 1 {
		t.Fatalf("quota 0.5: stat shows %d CPUs, lxcfs %d; want 1 and 1", s0.cpus, s0.ref)
	}
	time.Sleep(2 * time.Second)
	s1 := read()
	u1, t1 := cg.CPUUsage(), time.Now()
	check("same quota", s0, s1)
	// The busy time shown grows with the cgroup's usage, and busy plus idle
	// with the wall time of the one visible CPU. (v1 cpuacct.usage_all
	// splits user and system by scheduler ticks, so its sum strays from
	// the exact cpuacct.usage by a few ticks of 4 ms each way.)
	used := float64((u1 - u0) / (time.Second / userHZ))
	wall := uint64(t1.Sub(t0) / (time.Second / userHZ))
	du, di := s1.user+s1.sys-s0.user-s0.sys, s1.idle-s0.idle
	// used brackets both reads, which take long on a loaded machine, so
	// it bounds du from above only; du must still grow.
	if float64(du) > used*1.3+10 || du == 0 {
		t.Errorf("busy time grew by %d ticks; the cgroup used %.0f", du, used)
	}
	if du+di > wall+10 {
		t.Errorf("busy %d + idle %d ticks over %d ticks of wall time on one CPU", du, di, wall)
	}
	// Running at its 0.5-CPU quota, the one CPU reads busy: idle counts
	// against the quota, not against the whole CPU (which would read 50%
	// idle that the container cannot use).
	if float64(di) > 0.15*float64(wall)+10 {
		t.Errorf("idle grew by %d of %d ticks (busy %d) at the quota; want the CPU busy", di, wall, du)
	}
	cg.CPUQuota(150000, 100000) // two CPUs
	time.Sleep(time.Second)
	s2 := read()
	if s2.cpus != 2 || s2.ref != 2 {
		t.Errorf("quota 1.5: stat shows %d CPUs, lxcfs %d; want 2", s2.cpus, s2.ref)
	}
	check("quota raised", s1, s2)
	cg.CPUQuota(50000, 100000) // back to one
	time.Sleep(time.Second)
	s3 := read()
	if s3.cpus != 1 {
		t.Errorf("quota 0.5 again: stat shows %d CPUs, want 1", s3.cpus)
	}
	check("quota lowered", s2, s3)
	cg.CPUs("1")
	time.Sleep(time.Second)
	check("cpuset changed", s3, read())
}

// loopDevice attaches a 64 MiB file in a temporary directory to a loop
// device and returns the device and its "major:minor".
func loopDevice(t *testing.T) (dev, majmin string) {
	t.Helper()
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup is not installed")
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64*MiB); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Skipf("losetup: %v", err)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	b, err := os.ReadFile("/sys/class/block/" + filepath.Base(dev) + "/dev")
	if err != nil {
		t.Fatal(err)
	}
	return dev, strings.TrimSpace(string(b))
}

// TestDiskstatsIO: dd with O_DIRECT to a loop device inside one cgroup
// shows in that cgroup's diskstats line for the device, with the host's
// number of fields, and not in an idle cgroup's.
func TestDiskstatsIO(t *testing.T) {
	d := setup(t)
	dev, majmin := loopDevice(t)
	busy, idle := newCgroup(t), newCgroup(t)
	if !busy.V2("io") {
		// v1 blkio.throttle.* count only on devices where throttling is
		// active (Linux 6.10+): a rule far above anything a loop device
		// does activates it.
		busy.Set("io", "blkio.throttle.write_bps_device", majmin+" 1099511627776")
	}
	if _, stderr, err := busy.Run("dd", "if=/dev/zero", "of="+dev, "bs=4k", "count=256", "oflag=direct", "status=none"); err != nil {
		t.Fatalf("dd: %v: %s", err, stderr)
	}
	maj, min, _ := strings.Cut(majmin, ":")
	find := func(text string) []string {
		for _, l := range strings.Split(text, "\n") {
			if f := strings.Fields(l); len(f) > 3 && f[0] == maj && f[1] == min {
				return f
			}
		}
		return nil
	}
	host := find(hostFile(t, "/proc/diskstats"))
	got := readAs(t, busy, d, diskstats)[diskstats]
	line := find(got)
	if line == nil {
		t.Fatalf("%s (%s) missing from the busy cgroup's diskstats:\n%s", dev, majmin, got)
	}
	if len(line) != len(host) {
		t.Errorf("%d fields, the host line has %d: %q", len(line), len(host), line)
	}
	if line[2] != filepath.Base(dev) {
		t.Errorf("device name %q, want %q", line[2], filepath.Base(dev))
	}
	n := func(i int) uint64 { v, _ := strconv.ParseUint(line[2+i], 10, 64); return v }
	if n(5) < 256 || n(7) < 2048 {
		t.Errorf("writes %d, sectors written %d; want at least 256 and 2048 (dd wrote 256 x 4 KiB)", n(5), n(7))
	}
	if n(1) > 16 {
		t.Errorf("reads %d; dd only wrote", n(1))
	}
	other := readAs(t, idle, d, diskstats)[diskstats]
	if l := find(other); l == nil || strings.Join(l[3:], " ") != strings.TrimSpace(strings.Repeat("0 ", len(l)-3)) {
		t.Errorf("the idle cgroup's line for %s is %q, want all zeros:\n%s", dev, l, other)
	}

	// sys/block/<dev>/stat, which iostat reads, is the same line in the
	// kernel's sysfs format, with as many fields as the host's file.
	blockStat := "sys/block/" + filepath.Base(dev) + "/stat"
	hostStat := strings.Fields(hostFile(t, "/sys/block/"+filepath.Base(dev)+"/stat"))
	for _, r := range []struct {
		who  string
		cg   *testenv.Cgroup
		want []string
	}{{"busy", busy, line}, {"idle", idle, find(other)}} {
		v := readAs(t, r.cg, d, blockStat)[blockStat]
		if got := strings.Fields(v); !slices.Equal(got, r.want[3:]) || len(got) != len(hostStat) {
			t.Errorf("the %s cgroup's %s = %q, want its diskstats fields %q (%d of them, as the host's)", r.who, blockStat, v, r.want[3:], len(hostStat))
		}
		var kernel []string
		for _, f := range strings.Fields(v) {
			kernel = append(kernel, fmt.Sprintf("%8s", f))
		}
		if want := strings.Join(kernel, " ") + "\n"; v != want {
			t.Errorf("%s = %q, not in the kernel's 8-column fields %q", blockStat, v, want)
		}
	}
}

// rootDisk is the "maj min" of the block device holding / and its name,
// or "" when / is on no block device listed in /proc/diskstats.
func rootDisk(t *testing.T) (string, string) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	maj, min := unix.Major(st.Dev), unix.Minor(st.Dev)
	for _, l := range strings.Split(hostFile(t, "/proc/diskstats"), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[0] == strconv.Itoa(int(maj)) && f[1] == strconv.Itoa(int(min)) {
			return f[0] + " " + f[1], f[2]
		}
	}
	return "", ""
}

// TestDiskstatsTaskIO: on a host whose cgroup files count no block I/O
// (v1 blkio on Linux 6.10+ without a throttle rule on the device, as this
// machine's root disk), O_DIRECT writes by a process of a cgroup show as
// sectors written on the line of the disk holding the reader's root, from
// per-task accounting, and stay there after the writer exits; another
// cgroup's line stays at 0.
func TestDiskstatsTaskIO(t *testing.T) {
	d := setup(t)
	majmin, name := rootDisk(t)
	if majmin == "" {
		t.Skip("/ is on no block device of /proc/diskstats (tmpfs, overlay, btrfs)")
	}
	dir, err := os.MkdirTemp("/var/tmp", "lxcfs-go-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	busy, idle := newCgroup(t), newCgroup(t)
	// The writer stays (a reaped child's counts go to its parent, and a
	// process's counts leave the cgroup with it).
	done := filepath.Join(dir, "done")
	script := "dd if=/dev/zero of=" + dir + "/f bs=64k count=32 oflag=direct status=none && : > " + done + "; exec sleep 600"
	writer, err := busy.Start(nil, os.Stderr, "sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(testenv.ReaderTimeout); ; {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dd did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	find := func(text string) []string {
		for _, l := range strings.Split(text, "\n") {
			if f := strings.Fields(l); len(f) > 3 && f[0]+" "+f[1] == majmin {
				return f
			}
		}
		return nil
	}
	field := func(line []string, i int) uint64 { v, _ := strconv.ParseUint(line[2+i], 10, 64); return v }
	got := readAs(t, busy, d, diskstats)[diskstats]
	line := find(got)
	if line == nil {
		t.Fatalf("%s (%s) missing from the busy cgroup's diskstats:\n%s", name, majmin, got)
	}
	if w := field(line, 7); w < 4096 {
		t.Errorf("sectors written %d, want at least 4096 (dd wrote 2 MiB with O_DIRECT):\n%s", w, got)
	}
	if w := field(line, 7); w > 1<<21 {
		t.Errorf("sectors written %d: the host's, not the cgroup's:\n%s", w, got)
	}
	host := find(hostFile(t, "/proc/diskstats"))
	if len(line) != len(host) {
		t.Errorf("%d fields, the host line has %d", len(line), len(host))
	}
	if w := field(find(readAs(t, idle, d, diskstats)[diskstats]), 7); w >= 4096 {
		t.Errorf("the idle cgroup shows %d sectors written", w)
	}
	// The writer goes (its counts leave with it): the counters stay.
	_ = writer.Kill()
	for deadline := time.Now().Add(testenv.ReaderTimeout); len(busy.Procs()) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	after := find(readAs(t, busy, d, diskstats)[diskstats])
	if after == nil || field(after, 7) < field(line, 7) {
		t.Errorf("after the writer exited: %q, want sectors written at least %d", after, field(line, 7))
	}
}

// psiTotal is the "some" total of a pressure file.
func psiTotal(t *testing.T, s string) uint64 {
	t.Helper()
	for _, l := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(l, "some "); ok {
			i := strings.Index(rest, "total=")
			if i >= 0 {
				v, err := strconv.ParseUint(strings.TrimSpace(rest[i+6:]), 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	t.Fatalf("no some total in %q", s)
	return 0
}

// TestPressurePerCgroup: two cgroups, one with two busy loops on one CPU,
// see their own cpu.pressure (the unified hierarchy's, also on hybrid
// hosts), which differ; io and memory come from their files too.
func TestPressurePerCgroup(t *testing.T) {
	d := setup(t)
	hot, cold := newCgroup(t), newCgroup(t)
	hot.CPUs("0")
	for range 2 {
		if _, err := hot.Start(nil, nil, "sh", "-c", "while :; do :; done"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(hot.Path("unified"), "cpu.pressure")); err != nil {
		t.Skipf("no PSI in the unified hierarchy: %v", err)
	}
	time.Sleep(2 * time.Second)
	totals := map[string]uint64{}
	for _, c := range []struct {
		name string
		cg   *testenv.Cgroup
	}{{"hot", hot}, {"cold", cold}} {
		for _, res := range []string{"cpu", "io", "memory"} {
			file := filepath.Join(c.cg.Path("unified"), res+".pressure")
			before := psiTotal(t, hostFile(t, file))
			got := readAs(t, c.cg, d, "proc/pressure/"+res)["proc/pressure/"+res]
			after := psiTotal(t, hostFile(t, file))
			v := psiTotal(t, got)
			if v < before || v > after {
				t.Errorf("%s pressure/%s some total %d, the cgroup's file went %d..%d", c.name, res, v, before, after)
			}
			totals[c.name+"/"+res] = v
		}
	}
	if totals["hot/cpu"] == totals["cold/cpu"] || totals["hot/cpu"] == 0 {
		t.Errorf("cpu pressure totals hot %d, cold %d: want them to differ, hot > 0", totals["hot/cpu"], totals["cold/cpu"])
	}
}

// psiPollScript opens argv[1] for writing, installs a trigger and polls for
// POLLPRI until argv[2] events have come, 6 s at most each (the upstream
// test-psi-triggers-poll.c, against real pressure rather than a mock; the
// kernel evaluates triggers when the group's task states change, so under
// steady pressure events come every window or every other one).
const psiPollScript = `
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
os.write(fd, b"some 20000 2000000\0")
p = select.poll()
p.register(fd, select.POLLPRI)
got = 0
start = time.time()
while got < int(sys.argv[2]):
    ev = p.poll(6000)
    if not ev:
        print("timeout after", got, "events"); sys.exit(1)
    for _, e in ev:
        if e & select.POLLERR or not e & select.POLLPRI:
            print("bad event", e); sys.exit(1)
    got += 1
print("events", got, "in", round(time.time() - start, 1), "s")
`

// TestPSITriggerPoll: with --enable-psi-poll a trigger written to
// proc/pressure/cpu by a process under CPU pressure delivers POLLPRI events
// through poll(2), as on the real file; a second trigger on the same open
// file is refused, and without the option the file cannot be opened for
// writing.
func TestPSITriggerPoll(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is needed for the poll client")
	}
	d := setup(t, "--enable-psi-poll")
	plain := testenv.StartDaemon(t)
	hot := newCgroup(t)
	hot.CPUs("0")
	for range 2 {
		if _, err := hot.Start(nil, nil, "sh", "-c", "while :; do :; done"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(hot.Path("unified"), "cpu.pressure")); err != nil {
		t.Skipf("no PSI in the unified hierarchy: %v", err)
	}
	out, stderr, err := hot.Run(py, "-c", psiPollScript, d.Path("proc/pressure/cpu"), "3")
	if err != nil {
		t.Fatalf("poll client: %v\n%s%s", err, out, stderr)
	}
	t.Logf("%s", strings.TrimSpace(out))

	twice := `
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, b"some 20000 2000000\0")
try:
    os.write(fd, b"some 20000 2000000\0")
except OSError as e:
    print(e.errno); sys.exit(0)
print("second write accepted"); sys.exit(1)
`
	if out, stderr, err := hot.Run(py, "-c", twice, d.Path("proc/pressure/cpu")); err != nil || strings.TrimSpace(out) != "16" {
		t.Errorf("second trigger on one open file: %v %q %q, want EBUSY (16)", err, out, stderr)
	}
	if _, err := os.OpenFile(plain.Path("proc/pressure/cpu"), os.O_RDWR, 0); err == nil {
		t.Errorf("without --enable-psi-poll proc/pressure/cpu opened for writing")
	}
}

// TestLoadavgLastPIDInContainer: loadavg's last-pid field is a pid of the
// reader's pid namespace (the container's newest thread as the container
// numbers it), not a host pid the container cannot see.
func TestLoadavgLastPIDInContainer(t *testing.T) {
	d := setup(t, "-l")
	cg := newCgroup(t)
	ct := testenv.StartContainer(t, cg, testenv.ContainerOptions{})
	out, errb, err := ct.Run(cg, "sh", "-c", `sleep 5 >/dev/null 2>&1 & sleep 5 >/dev/null 2>&1 & cat "$1"; echo "$$"`, "sh", d.Path(loadavg))
	if err != nil {
		t.Fatalf("reading loadavg in the container: %v: %s", err, errb)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out)
	}
	f := strings.Fields(lines[0])
	if len(f) != 5 {
		t.Fatalf("loadavg %q does not have 5 fields", lines[0])
	}
	last, err := strconv.Atoi(f[4])
	if err != nil {
		t.Fatalf("last pid %q: %v", f[4], err)
	}
	shell, _ := strconv.Atoi(lines[1])
	// The container's namespace has allocated a handful of pids (its
	// init, the reader's shell, two sleeps, cat); the host thousands.
	if last < 1 || last > 20 || shell > 20 {
		t.Errorf("last pid %d (the reader's shell is %d in the container); want a pid of the container's namespace, below 20", last, shell)
	}
}

package realtools

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// The limits both legs give their container, and the CPU of its cpuset.
const (
	memLimit = 256 << 20
	quotaUs  = 50000
	periodUs = 100000
	cpuset   = "1"
)

// box is a running container of the suite, whichever runtime runs it.
type box struct {
	// rootfs is the container's root as the host sees it.
	rootfs string
	// started is the container's boot, the zero of its time namespace.
	started time.Time
	// init is the host pid of the container's first process.
	init int
	// cgroup is the container's cgroup path, the same in every hierarchy.
	cgroup string
	// argv is the host command line that runs argv in the container: in
	// its cgroups and namespaces, the time namespace included.
	argv func(argv ...string) []string
}

// toolArgv runs cmd with sh and the environment of a login, nothing of
// the test's.
func toolArgv(cmd string) []string {
	return []string{"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8",
		"TERM=dumb", "COLUMNS=200", "sh", "-c", cmd}
}

// output runs cmd in the container and returns its output.
func (b *box) output(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := b.argv(toolArgv(cmd)...)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in the container: %s: %w\n%s", cmd, err, out)
	}
	return string(out), nil
}

// sh runs cmd in the container, logs and returns its output; it fails the
// test when cmd fails.
func (b *box) sh(t *testing.T, cmd string) string {
	t.Helper()
	out, err := b.output(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ %s\n%s", cmd, out)
	return out
}

// startIn starts cmd in the container in the background, its output to
// a file; cleanup stops it and what it started, by pid.
func (b *box) startIn(t *testing.T, cmd string) {
	t.Helper()
	argv := b.argv(toolArgv(cmd)...)
	p := exec.Command(argv[0], argv[1:]...)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	p.Stdout, p.Stderr = out, out
	p.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killTree(p.Process.Pid)
		_ = p.Wait()
		out.Close()
	})
}

// age is how long the container has run, in seconds.
func (b *box) age() float64 { return time.Since(b.started).Seconds() }

// killTree kills pid and its descendants, by pid, children first: nsenter
// and lxc-attach run the command in a child of their own, which outlives
// them.
func killTree(pid int) {
	des, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, de := range des {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, de.Name()))
		for _, k := range strings.Fields(string(kids)) {
			if n, err := strconv.Atoi(k); err == nil {
				killTree(n)
			}
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// diskDiagnosis logs what the container's diskstats is made of.
func (b *box) diskDiagnosis(t *testing.T) {
	t.Helper()
	b.sh(t, "cat /proc/diskstats; grep -m3 ' / ' /proc/1/mountinfo; cat /proc/1/io")
	if out, err := exec.Command(testenv.DaemonBinary(t), "show", "--pid", strconv.Itoa(b.init), "--explain", "diskstats").CombinedOutput(); err != nil {
		t.Logf("lxcfs-go show: %v\n%s", err, out)
	} else {
		t.Logf("$ lxcfs-go show --pid %d --explain diskstats\n%s", b.init, out)
	}
}

// cgroupDirs maps each controller of pid's cgroups ("memory", "cpu",
// "name=systemd", "" for cgroup2) to its directory on the host.
func cgroupDirs(t *testing.T, pid int) map[string]string {
	t.Helper()
	layout, err := testenv.HostLayout()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			if layout.Unified != "" {
				dirs[""] = layout.Unified + parts[2]
			}
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if m, ok := layout.V1[c]; ok {
				dirs[c] = m + parts[2]
			}
		}
	}
	return dirs
}

// readTrim is a file's content without the trailing newline, "" when it
// cannot be read.
func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// field is the first submatch of re in s, "" if none.
func field(s, re string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if len(m) < 2 {
		return ""
	}
	return m[1]
}

func num(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// testLeg runs the checks in the container that start makes with the
// runtime's tools, on a daemon of its own started with --enable-cfs -l.
func testLeg(t *testing.T, runtime string, start func(*testing.T, *testenv.Daemon) *box) {
	requireRealTools(t, runtime)
	testenv.RequireCPUs(t, 2)
	d := testenv.StartDaemon(t, "--enable-cfs", "-l")
	checkTools(t, start(t, d))
}

// checkTools checks what the tools print inside b, a container with a
// 256 MiB memory limit, the one CPU of cpuset and a 0.5 CPU quota, whose
// /proc and /sys files come from a daemon run with --enable-cfs -l: the
// container's limits, and its age.
func checkTools(t *testing.T, b *box) {
	// Some age, so that age checks mean something.
	time.Sleep(2 * time.Second)

	// The limits the checks expect are the container's.
	t.Run("cgroup", func(t *testing.T) {
		dirs := cgroupDirs(t, b.init)
		for _, c := range []string{"memory", "cpuset", "cpu"} {
			d, ok := dirs[c]
			if !ok {
				d, ok = dirs[""]
			}
			if !ok || !strings.HasSuffix(d, b.cgroup) {
				t.Errorf("the container's %s cgroup is %q, want %s", c, d, b.cgroup)
			}
		}
		limits := map[string]string{}
		if d, ok := dirs["memory"]; ok {
			limits[d+"/memory.limit_in_bytes"] = strconv.Itoa(memLimit)
		} else {
			limits[dirs[""]+"/memory.max"] = strconv.Itoa(memLimit)
		}
		if d, ok := dirs["cpuset"]; ok {
			limits[d+"/cpuset.effective_cpus"] = cpuset
		} else {
			limits[dirs[""]+"/cpuset.cpus.effective"] = cpuset
		}
		if d, ok := dirs["cpu"]; ok {
			limits[d+"/cpu.cfs_quota_us"] = strconv.Itoa(quotaUs)
			limits[d+"/cpu.cfs_period_us"] = strconv.Itoa(periodUs)
		} else {
			limits[dirs[""]+"/cpu.max"] = fmt.Sprintf("%d %d", quotaUs, periodUs)
		}
		for f, want := range limits {
			if got := readTrim(f); got != want {
				t.Errorf("%s = %q, want %q", f, got, want)
			}
		}
	})

	// A process of the container writes 8 MiB with O_DIRECT and stays, so
	// that its counts stay in the cgroup (diskstats from per-task I/O
	// accounting on this kernel).
	b.startIn(t, "dd if=/dev/zero of=/root/direct bs=1M count=8 oflag=direct status=none && : > /root/dd-done; exec sleep infinity")
	for deadline := time.Now().Add(time.Minute); ; {
		if _, err := os.Stat(filepath.Join(b.rootfs, "root/dd-done")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dd in the container did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Run("free", func(t *testing.T) {
		out := b.sh(t, "free -b")
		if got := field(out, `(?m)^Mem:\s+(\d+)`); got != strconv.Itoa(memLimit) {
			t.Errorf("free: total %s, want %d (256 MiB)", got, memLimit)
		}
	})
	t.Run("nproc", func(t *testing.T) {
		for _, cmd := range []string{"nproc", "nproc --all"} {
			if got := strings.TrimSpace(b.sh(t, cmd)); got != "1" {
				t.Errorf("%s = %q, want 1", cmd, got)
			}
		}
	})
	t.Run("lscpu", func(t *testing.T) {
		out := b.sh(t, "lscpu")
		if got := field(out, `(?m)^CPU\(s\):\s+(\S+)`); got != "1" {
			t.Errorf("lscpu CPU(s) %q, want 1", got)
		}
		if got := field(out, `(?m)On-line CPU\(s\) list:\s+(\S+)`); got != "0" {
			t.Errorf("lscpu on-line list %q, want 0", got)
		}
	})
	t.Run("top", func(t *testing.T) {
		out := b.sh(t, "top -bn1 | head -5")
		if got := field(out, `MiB Mem :\s+([\d.]+) total`); got != "256.0" {
			t.Errorf("top: MiB Mem %q total, want 256.0", got)
		}
		if up := field(out, `up\s+(\d+) min`); up != "" && num(up) > b.age()/60+1 {
			t.Errorf("top: up %s min, the container is %.0f s old", up, b.age())
		}
	})
	t.Run("uptime", func(t *testing.T) {
		up := num(strings.Fields(b.sh(t, "cat /proc/uptime"))[0])
		if up > b.age()+2 || up < 1 {
			t.Errorf("/proc/uptime %.2f, the container is %.2f s old", up, b.age())
		}
		out := b.sh(t, "uptime; uptime -s; date '+%F %T'")
		if !strings.Contains(out, "up 0 min") && !strings.Contains(out, "up 1 min") && !strings.Contains(out, "up  0 min") {
			t.Errorf("uptime does not say up 0 or 1 min:\n%s", out)
		}
	})
	t.Run("ps", func(t *testing.T) {
		out := b.sh(t, "ps -eo pid,etimes,etime,lstart,comm")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) < 3 {
				continue
			}
			if e := num(f[1]); e > b.age()+2 || e < 0 {
				t.Errorf("ps: %q has etimes %s, the container is %.0f s old", l, f[1], b.age())
			}
		}
	})
	t.Run("mpstat", func(t *testing.T) {
		out := b.sh(t, "mpstat 1 1")
		if !strings.Contains(out, "(1 CPU)") {
			t.Errorf("mpstat does not say (1 CPU):\n%s", out)
		}
	})
	t.Run("iostat", func(t *testing.T) { checkIostat(t, b) })
	t.Run("numactl", func(t *testing.T) {
		out := b.sh(t, "numactl --hardware")
		if !strings.Contains(out, "available: 1 nodes (0)") {
			t.Errorf("numactl: not one node:\n%s", out)
		}
		// --enable-cfs numbers the container's CPUs from 0.
		if got := strings.TrimSpace(field(out, `node 0 cpus:([ \d]*)`)); got != "0" {
			t.Errorf("numactl: node 0 cpus %q, want 0", got)
		}
		if got := field(out, `node 0 size: (\d+) MB`); got != "256" {
			t.Errorf("numactl: node 0 size %s MB, want 256", got)
		}
	})
	t.Run("psutil", func(t *testing.T) {
		out := b.sh(t, `python3 -c 'import psutil, time; print(psutil.cpu_count(), psutil.virtual_memory().total, psutil.boot_time(), time.time())'`)
		f := strings.Fields(out)
		if len(f) != 4 {
			t.Fatalf("psutil printed %q", out)
		}
		if f[0] != "1" {
			t.Errorf("psutil.cpu_count() = %s, want 1", f[0])
		}
		if f[1] != strconv.Itoa(memLimit) {
			t.Errorf("psutil.virtual_memory().total = %s, want %d", f[1], memLimit)
		}
		if boot := num(f[2]); math.Abs(boot-float64(b.started.Unix())) > 2 {
			t.Errorf("psutil.boot_time() = %s, the container started at %d", f[2], b.started.Unix())
		}
	})
	t.Run("node_exporter", func(t *testing.T) { checkNodeExporter(t, b) })
}

// checkIostat: iostat's figures for the container's disk are what its
// /proc/diskstats says, including the 8 MiB dd wrote.
func checkIostat(t *testing.T, b *box) {
	// What a block device's line in the container's /proc/diskstats
	// says it wrote, in kB, by device name.
	wrote := map[string]float64{}
	for _, l := range strings.Split(b.sh(t, "cat /proc/diskstats"), "\n") {
		if f := strings.Fields(l); len(f) >= 10 {
			wrote[f[2]] = num(f[9]) / 2
		}
	}
	var root string
	for dev, kb := range wrote {
		if kb >= 8192 {
			root = dev
		}
	}
	if root == "" {
		t.Errorf("no device in /proc/diskstats with the 8 MiB (8192 kB) dd wrote: %v", wrote)
	}
	// iostat reads /sys/block/<dev>/stat for the devices it lists
	// (ALL: every one, even idle), /sys/block/<disk>/<part>/stat for
	// -p <disk> and /proc/diskstats for -p ALL; each must say what
	// /proc/diskstats says. Plain iostat leaves out devices with no
	// requests completed, which per-task I/O accounting does not count.
	for _, cmd := range []string{"iostat -d -k ALL", "iostat -d -k -p ALL", "iostat -d -k", "iostat -d -k -p " + root} {
		out := b.sh(t, cmd)
		seen := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) < 8 || f[0] == "Device" {
				continue
			}
			seen[f[0]] = true
			if tps := num(f[1]); tps > 100 {
				t.Errorf("%s: %s at %s tps in an idle container (the host's /sys/block/%s/stat?)", cmd, f[0], f[1], f[0])
			}
			want, ok := wrote[f[0]]
			if !ok && strings.HasPrefix(f[0], root) {
				want, ok = 0, true // a partition /proc/diskstats leaves out
			}
			if got := num(f[6]); !ok || math.Abs(got-want) > 1 {
				t.Errorf("%s: %s wrote %s kB, /proc/diskstats says %v kB", cmd, f[0], f[6], want)
			}
		}
		if strings.HasSuffix(cmd, "ALL") && !seen[root] {
			t.Errorf("%s does not list %s:\n%s", cmd, root, out)
		}
	}
	if t.Failed() {
		b.diskDiagnosis(t)
	}
}

// checkNodeExporter runs node_exporter in the container and reads its
// metrics there (the container may have a network of its own): memory,
// CPUs, boot time and the disk dd wrote to are the container's.
func checkNodeExporter(t *testing.T, b *box) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b.startIn(t, "exec prometheus-node-exporter --web.listen-address="+addr)
	fetch := `python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("http://` + addr + `/metrics", timeout=10).read().decode())'`
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		if body, err = b.output(fetch); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node_exporter does not answer on %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	metric := func(re string) string { return field(body, `(?m)^`+re+`\s+(\S+)$`) }
	if got := num(metric(`node_memory_MemTotal_bytes`)); got != memLimit {
		t.Errorf("node_memory_MemTotal_bytes %v, want %d", got, memLimit)
	}
	if n := len(regexp.MustCompile(`(?m)^node_cpu_seconds_total\{cpu="\d+",mode="idle"\}`).FindAllString(body, -1)); n != 1 {
		t.Errorf("%d CPUs in node_cpu_seconds_total, want 1", n)
	}
	if boot := num(metric(`node_boot_time_seconds`)); math.Abs(boot-float64(b.started.Unix())) > 2 {
		t.Errorf("node_boot_time_seconds %v, the container started at %d", boot, b.started.Unix())
	}
	disks := regexp.MustCompile(`(?m)^node_disk_written_bytes_total\{device="([^"]+)"\} (\S+)$`).FindAllStringSubmatch(body, -1)
	var most float64
	for _, m := range disks {
		most = math.Max(most, num(m[2]))
	}
	if len(disks) == 0 || most < 8<<20 || most > 1<<30 {
		t.Errorf("node_disk_written_bytes_total %v: want a device with the 8 MiB dd wrote, none with the host's", disks)
		b.diskDiagnosis(t)
	}
	for _, m := range []string{"node_memory_MemTotal_bytes", "node_boot_time_seconds", "node_load1", "node_disk_written_bytes_total", "node_disk_reads_completed_total"} {
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, m) {
				t.Logf("node_exporter: %s", l)
			}
		}
	}
}

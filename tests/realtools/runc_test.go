package realtools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/debroot"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

const (
	memLimit = 256 << 20
	quotaUs  = 50000
	periodUs = 100000
)

// container is a running runc container of the suite.
type container struct {
	id      string
	rootfs  string
	started time.Time
	// init is the host pid of the container's first process; target
	// that of the process in the container's time namespace that
	// commands enter (nsenter -a).
	init, target int
	// procs are the cgroup.procs files of the container's cgroups, which
	// every command joins first.
	procs []string
}

// boundFiles are the daemon's files the container gets (docs/oci.md).
var boundFiles = []string{"proc/cpuinfo", "proc/diskstats", "proc/loadavg", "proc/meminfo",
	"proc/slabinfo", "proc/stat", "proc/swaps", "proc/uptime",
	"sys/devices/system/cpu", "sys/devices/system/node"}

// blockStatBinds are the daemon's block device stat files with the sysfs
// files they go over, as docs/oci.md makes them: sys/block/<disk>/stat
// over the real path /sys/block/<disk> links to, and the same for
// <disk>/<part>/stat.
func blockStatBinds(t *testing.T, d *testenv.Daemon) [][2]string {
	t.Helper()
	var binds [][2]string
	for _, pattern := range []string{"sys/block/*/stat", "sys/block/*/*/stat"} {
		srcs, err := filepath.Glob(d.Path(pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range srcs {
			rel, err := filepath.Rel(d.Path(""), filepath.Dir(src))
			if err != nil {
				t.Fatal(err)
			}
			real, err := filepath.EvalSymlinks("/" + rel)
			if err != nil {
				t.Fatal(err)
			}
			binds = append(binds, [2]string{src, real + "/stat"})
		}
	}
	if len(binds) == 0 {
		t.Fatalf("the daemon serves no sys/block/*/stat")
	}
	return binds
}

func startContainer(t *testing.T, d *testenv.Daemon, cpu string) *container {
	t.Helper()
	rootfs := debroot.Overlay(t, debroot.Cached(t, toolsRootfs))
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	c := &container{id: "lxcfs-go-test-realtools-" + hex.EncodeToString(rnd[:]), rootfs: rootfs}
	bundle := t.TempDir()
	run(t, "runc", "spec", "--bundle", bundle)
	var spec map[string]any
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	hostUp, _ := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	spec["root"] = map[string]any{"path": rootfs, "readonly": false}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	// The container's boot is its start: a time namespace whose boot
	// offset is minus the host's uptime (runc 1.1 has no timeOffsets).
	proc["args"] = []string{"unshare", "--time", "--boottime", strconv.Itoa(-int(hostUp)), "--fork", "--", "sleep", "infinity"}
	caps := proc["capabilities"].(map[string]any)
	for _, k := range []string{"bounding", "effective", "permitted"} {
		caps[k] = append(toStrings(caps[k]), "CAP_SYS_ADMIN", "CAP_SYS_TIME")
	}
	linux := spec["linux"].(map[string]any)
	var ns []any
	for _, n := range linux["namespaces"].([]any) {
		// The host's network: node_exporter listens on its loopback.
		if n.(map[string]any)["type"] != "network" {
			ns = append(ns, n)
		}
	}
	linux["namespaces"] = ns
	linux["cgroupsPath"] = "/" + c.id
	linux["resources"] = map[string]any{
		"memory": map[string]any{"limit": memLimit},
		"cpu":    map[string]any{"cpus": cpu, "quota": quotaUs, "period": periodUs},
	}
	mounts := spec["mounts"].([]any)
	for _, f := range boundFiles {
		mounts = append(mounts, map[string]any{"destination": "/" + f, "type": "bind", "source": d.Path(f), "options": []string{"rbind", "ro"}})
	}
	for _, b := range blockStatBinds(t, d) {
		mounts = append(mounts, map[string]any{"destination": b[1], "type": "bind", "source": b[0], "options": []string{"bind", "ro"}})
	}
	spec["mounts"] = mounts
	b, err = json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(bundle, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("runc", "run", "-d", "--pid-file", filepath.Join(bundle, "pid"), "--bundle", bundle, c.id)
	cmd.Stdout, cmd.Stderr = log, log
	t.Cleanup(func() {
		_ = exec.Command("runc", "kill", c.id, "KILL").Run()
		if out, err := exec.Command("runc", "delete", "-f", c.id).CombinedOutput(); err != nil {
			t.Errorf("runc delete %s: %v: %s", c.id, err, out)
		}
	})
	c.started = time.Now()
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(filepath.Join(bundle, "log"))
		t.Fatalf("runc run: %v\n%s", err, out)
	}
	pb, err := os.ReadFile(filepath.Join(bundle, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	init, err := strconv.Atoi(strings.TrimSpace(string(pb)))
	if err != nil {
		t.Fatal(err)
	}
	c.init = init
	// unshare's child, the sleep in the time namespace.
	for deadline := time.Now().Add(30 * time.Second); c.target == 0; {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", init, init))
		if f := strings.Fields(string(kids)); len(f) > 0 {
			c.target, _ = strconv.Atoi(f[0])
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(bundle, "log"))
			t.Fatalf("the container's init %d started no child:\n%s", init, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", init))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 || !strings.Contains(parts[2], c.id) {
			continue
		}
		dir := "/sys/fs/cgroup/unified"
		if parts[1] != "" {
			dir = "/sys/fs/cgroup/" + strings.TrimPrefix(parts[1], "name=")
		}
		if _, err := os.Stat(dir + parts[2] + "/cgroup.procs"); err == nil {
			c.procs = append(c.procs, dir+parts[2]+"/cgroup.procs")
		}
	}
	if len(c.procs) == 0 {
		t.Fatalf("no cgroup of %s in /proc/%d/cgroup:\n%s", c.id, init, cg)
	}
	return c
}

// startIn starts cmd in the container in the background, its output to
// a file; cleanup stops it and what it started, by pid.
func (c *container) startIn(t *testing.T, cmd string) *exec.Cmd {
	t.Helper()
	argv := c.script(cmd)
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
	return p
}

// killTree kills pid and its descendants, by pid, children first: nsenter
// runs the command in a child of its own, which outlives a killed nsenter.
func killTree(pid int) {
	for _, tid := range tasks(pid) {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, tid))
		for _, k := range strings.Fields(string(kids)) {
			if n, err := strconv.Atoi(k); err == nil {
				killTree(n)
			}
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func tasks(pid int) []string {
	des, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// diskDiagnosis logs what the container's diskstats is made of.
func (c *container) diskDiagnosis(t *testing.T) {
	t.Helper()
	c.sh(t, "cat /proc/diskstats; grep -m3 ' / ' /proc/1/mountinfo; cat /proc/1/io")
	if out, err := exec.Command(testenv.DaemonBinary(t), "show", "--pid", strconv.Itoa(c.init), "--explain", "diskstats").CombinedOutput(); err != nil {
		t.Logf("lxcfs-go show: %v\n%s", err, out)
	} else {
		t.Logf("$ lxcfs-go show --pid %d --explain diskstats\n%s", c.init, out)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// script is sh that moves itself into the container's cgroups, then
// enters its namespaces (time included) and runs cmd there.
func (c *container) script(cmd string) []string {
	join := ""
	for _, p := range c.procs {
		join += "echo $$ > " + p + " && "
	}
	return []string{"sh", "-c", join + `exec nsenter -t "$0" -a -r -w -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb COLUMNS=200 sh -c "$1"`,
		strconv.Itoa(c.target), cmd}
}

// sh runs cmd in the container and returns its output; it fails the test
// when cmd fails.
func (c *container) sh(t *testing.T, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := c.script(cmd)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("in the container: %s: %v\n%s", cmd, err, out)
	}
	t.Logf("$ %s\n%s", cmd, out)
	return string(out)
}

// age is how long the container has run, in seconds.
func (c *container) age() float64 { return time.Since(c.started).Seconds() }

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
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

// TestTools: what the tools print inside a 256 MiB, one-CPU, 0.5-CPU-quota
// container is the container's, and its age.
func TestTools(t *testing.T) {
	requireRealTools(t)
	testenv.RequireCPUs(t, 2)
	d := testenv.StartDaemon(t, "--enable-cfs", "-l")
	c := startContainer(t, d, "1")
	// Some age, so that age checks mean something.
	time.Sleep(2 * time.Second)

	// A process of the container writes 8 MiB with O_DIRECT and stays, so
	// that its counts stay in the cgroup (diskstats from per-task I/O
	// accounting on this kernel).
	c.startIn(t, "dd if=/dev/zero of=/root/direct bs=1M count=8 oflag=direct status=none && : > /root/dd-done; exec sleep infinity")
	for deadline := time.Now().Add(time.Minute); ; {
		if _, err := os.Stat(filepath.Join(c.rootfs, "root/dd-done")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dd in the container did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Run("free", func(t *testing.T) {
		out := c.sh(t, "free -b")
		if got := field(out, `(?m)^Mem:\s+(\d+)`); got != strconv.Itoa(memLimit) {
			t.Errorf("free: total %s, want %d (256 MiB)", got, memLimit)
		}
	})
	t.Run("nproc", func(t *testing.T) {
		for _, cmd := range []string{"nproc", "nproc --all"} {
			if got := strings.TrimSpace(c.sh(t, cmd)); got != "1" {
				t.Errorf("%s = %q, want 1", cmd, got)
			}
		}
	})
	t.Run("lscpu", func(t *testing.T) {
		out := c.sh(t, "lscpu")
		if got := field(out, `(?m)^CPU\(s\):\s+(\S+)`); got != "1" {
			t.Errorf("lscpu CPU(s) %q, want 1", got)
		}
		if got := field(out, `(?m)On-line CPU\(s\) list:\s+(\S+)`); got != "0" {
			t.Errorf("lscpu on-line list %q, want 0", got)
		}
	})
	t.Run("top", func(t *testing.T) {
		out := c.sh(t, "top -bn1 | head -5")
		if got := field(out, `MiB Mem :\s+([\d.]+) total`); got != "256.0" {
			t.Errorf("top: MiB Mem %q total, want 256.0", got)
		}
		if up := field(out, `up\s+(\d+) min`); up != "" && num(up) > c.age()/60+1 {
			t.Errorf("top: up %s min, the container is %.0f s old", up, c.age())
		}
	})
	t.Run("uptime", func(t *testing.T) {
		up := num(strings.Fields(c.sh(t, "cat /proc/uptime"))[0])
		if up > c.age()+2 || up < 1 {
			t.Errorf("/proc/uptime %.2f, the container is %.2f s old", up, c.age())
		}
		out := c.sh(t, "uptime; uptime -s; date '+%F %T'")
		if !strings.Contains(out, "up 0 min") && !strings.Contains(out, "up 1 min") && !strings.Contains(out, "up  0 min") {
			t.Errorf("uptime does not say up 0 or 1 min:\n%s", out)
		}
	})
	t.Run("ps", func(t *testing.T) {
		out := c.sh(t, "ps -eo pid,etimes,etime,lstart,comm")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) < 3 {
				continue
			}
			if e := num(f[1]); e > c.age()+2 || e < 0 {
				t.Errorf("ps: %q has etimes %s, the container is %.0f s old", l, f[1], c.age())
			}
		}
	})
	t.Run("mpstat", func(t *testing.T) {
		out := c.sh(t, "mpstat 1 1")
		if !strings.Contains(out, "(1 CPU)") {
			t.Errorf("mpstat does not say (1 CPU):\n%s", out)
		}
	})
	t.Run("iostat", func(t *testing.T) {
		// What a block device's line in the container's /proc/diskstats
		// says it wrote, in kB, by device name.
		wrote := map[string]float64{}
		for _, l := range strings.Split(c.sh(t, "cat /proc/diskstats"), "\n") {
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
			out := c.sh(t, cmd)
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
			c.diskDiagnosis(t)
		}
	})
	t.Run("numactl", func(t *testing.T) {
		out := c.sh(t, "numactl --hardware")
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
		out := c.sh(t, `python3 -c 'import psutil, time; print(psutil.cpu_count(), psutil.virtual_memory().total, psutil.boot_time(), time.time())'`)
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
		if boot := num(f[2]); math.Abs(boot-float64(c.started.Unix())) > 2 {
			t.Errorf("psutil.boot_time() = %s, the container started at %d", f[2], c.started.Unix())
		}
	})
	t.Run("node_exporter", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c.startIn(t, "exec prometheus-node-exporter --web.listen-address="+addr)
		var body string
		for deadline := time.Now().Add(30 * time.Second); ; {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node_exporter does not answer on %s: %v", addr, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		metric := func(re string) string { return field(body, `(?m)^`+re+`\s+(\S+)$`) }
		if got := num(metric(`node_memory_MemTotal_bytes`)); got != memLimit {
			t.Errorf("node_memory_MemTotal_bytes %v, want %d", got, memLimit)
		}
		if n := len(regexp.MustCompile(`(?m)^node_cpu_seconds_total\{cpu="\d+",mode="idle"\}`).FindAllString(body, -1)); n != 1 {
			t.Errorf("%d CPUs in node_cpu_seconds_total, want 1", n)
		}
		if boot := num(metric(`node_boot_time_seconds`)); math.Abs(boot-float64(c.started.Unix())) > 2 {
			t.Errorf("node_boot_time_seconds %v, the container started at %d", boot, c.started.Unix())
		}
		disks := regexp.MustCompile(`(?m)^node_disk_written_bytes_total\{device="([^"]+)"\} (\S+)$`).FindAllStringSubmatch(body, -1)
		var most float64
		for _, m := range disks {
			most = math.Max(most, num(m[2]))
		}
		if len(disks) == 0 || most < 8<<20 || most > 1<<30 {
			t.Errorf("node_disk_written_bytes_total %v: want a device with the 8 MiB dd wrote, none with the host's", disks)
			c.diskDiagnosis(t)
		}
		for _, m := range []string{"node_memory_MemTotal_bytes", "node_boot_time_seconds", "node_load1", "node_disk_written_bytes_total", "node_disk_reads_completed_total"} {
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, m) {
					t.Logf("node_exporter: %s", l)
				}
			}
		}
	})
}

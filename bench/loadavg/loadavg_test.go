// Package loadavg is the scale benchmark of the loadavg sampler behind
// `make bench-loadavg`: N cgroups (default 200), each with 25 sleeping
// tasks and a reader of proc/loadavg, served at once by lxcfs-go -l and the
// reference lxcfs -l. Over a window (default 20 s) it measures each daemon's
// CPU time (utime+stime of the process and of its helper processes, which
// includes the kernel work of its FUSE replies and its sampling) and its
// RSS, and checks that the
// values keep moving: one extra cgroup runs a busy loop under a 20% CPU
// quota, and its load1 must rise over the window.
//
//	make bench-loadavg
//	go test -c -o /tmp/bl ./bench/loadavg && /tmp/bl -test.run=TestLoadavgBench -bench.loadavg -bench.n=500
//
// Without -bench.loadavg the test skips, so `go test ./...` stays quick.
package loadavg

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/bench/floor"
	"github.com/lxcfs-go/lxcfs-go/bench/internal/benchout"
	"github.com/lxcfs-go/lxcfs-go/bench/internal/proctree"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

var (
	flagRun    = flag.Bool("bench.loadavg", false, "run the loadavg scale benchmark (needs root, /dev/fuse, cgroups)")
	flagN      = flag.Int("bench.n", 200, "cgroups, each with -bench.tasks sleeping tasks and a reader")
	flagTasks  = flag.Int("bench.tasks", 25, "tasks per cgroup (the reader's shell is one of them)")
	flagWindow = flag.Duration("bench.window", 20*time.Second, "measured window")
	flagWarm   = flag.Duration("bench.warmup", 12*time.Second, "time after every reader has started before the window opens (at least two samples)")
	flagPeriod = flag.Duration("bench.period", time.Second, "each reader reads loadavg from every daemon this often")
	flagNoRef  = flag.Bool("bench.noref", false, "skip the reference lxcfs")
	flagArgs   = flag.String("bench.args", "", "extra lxcfs-go arguments, e.g. \"--metrics-addr unix:/tmp/m.sock\" to profile it")
	flagShell  = flag.String("bench.shell", "bash", "the readers' shell: bash's read builtin reads a seekable file 4 KiB at a time (one FUSE READ per read of loadavg, as an agent's read does); dash's (sh) reads it one byte per read(2), about 25 FUSE round trips each")
	flagOut    = flag.String("bench.out", "bench/out/loadavg.json", "JSON output ('' for none); relative to the module root")
)

// roleFloor is argv[1] of this binary re-executed as the floor server.
const roleFloor = "lxcfs-bench-floor"

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == roleFloor {
		b, err := os.ReadFile("/proc/loadavg")
		if err == nil {
			err = floor.Serve(os.Args[2], map[string][]byte{"proc/loadavg": b})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testenv.Main(m)
}

// target is one mounted server: its name, pid and mount point.
type target struct {
	name string
	pid  int
	mnt  string
}

func (tg target) path(rel string) string { return filepath.Join(tg.mnt, rel) }

// startFloor mounts the floor server (package floor) on a new directory:
// the FUSE round trips' cost, with the host's loadavg fixed at start.
func startFloor(t *testing.T) target {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "floor")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, roleFloor, mnt)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(mnt, "proc/loadavg")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("floor server did not mount on %s", mnt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return target{name: "floor", pid: cmd.Process.Pid, mnt: mnt}
}

// daemonStats is one daemon's cost over the window.
type daemonStats struct {
	Name       string  `json:"name"`
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSKiB     int64   `json:"rss_kib"`
	// BusyLoad are the busy cgroup's loadavg lines at the window's start
	// and end.
	BusyStart string `json:"busy_start"`
	BusyEnd   string `json:"busy_end"`
	// IdleSample is one idle cgroup's loadavg at the end.
	IdleSample string `json:"idle_sample"`
	// SamplerCPUSeconds is the CPU time over a second window of the same
	// length with every reader stopped: the sampler's own cost.
	SamplerCPUSeconds float64 `json:"sampler_cpu_seconds"`
	SamplerCPUPercent float64 `json:"sampler_cpu_percent"`
}

type report struct {
	Cgroups       int           `json:"cgroups"`
	Shell         string        `json:"reader_shell"`
	TasksPerGroup int           `json:"tasks_per_cgroup"`
	WindowSeconds float64       `json:"window_seconds"`
	Daemons       []daemonStats `json:"daemons"`
	Ratio         float64       `json:"cpu_ratio_ours_to_reference,omitempty"`
	SamplerRatio  float64       `json:"sampler_cpu_ratio_ours_to_reference,omitempty"`
	// FloorRatio is ours over the floor server's CPU for the same reads;
	// WorkRatio compares what ours and the reference spend beyond it.
	FloorRatio float64 `json:"cpu_ratio_ours_to_floor,omitempty"`
	WorkRatio  float64 `json:"cpu_beyond_floor_ratio_ours_to_reference,omitempty"`
}

// procCPU is the CPU seconds of pid and of its helper processes: the fd
// holder for lxcfs-go, reaped forked helpers for lxcfs (see proctree).
func procCPU(t *testing.T, pid int) float64 {
	s, ok := proctree.ProcessSeconds(pid)
	if !ok {
		t.Fatalf("daemon %d: no /proc/%d/stat", pid, pid)
	}
	return s
}

func load1(line string) float64 {
	f := strings.Fields(line)
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func TestLoadavgBench(t *testing.T) {
	if !*flagRun {
		t.Skip("the loadavg scale benchmark runs with -bench.loadavg (make bench-loadavg)")
	}
	testenv.RequireMountAndCgroups(t)
	ours := testenv.StartDaemon(t, append([]string{"-l"}, strings.Fields(*flagArgs)...)...)
	targets := []target{{"lxcfs-go", ours.PID, ours.Mnt}}
	if !*flagNoRef {
		ref := testenv.StartReference(t, "-l")
		targets = append(targets, target{"lxcfs 5.0.3", ref.PID, ref.Mnt})
	}
	// The floor's CPU is what the same reads cost any FUSE server.
	targets = append(targets, startFloor(t))

	root := testenv.NewCgroup(t, testenv.CgroupOptions{Controllers: []string{"cpu"}})
	// The reader: the shell itself plus tasks-1 sleepers, then a loop that
	// reads loadavg from every mount with the shell's read builtin (see
	// -bench.shell for how many FUSE requests that makes).
	var reads []string
	for _, tg := range targets {
		reads = append(reads, "read l < "+tg.path("proc/loadavg")+" || true")
	}
	script := fmt.Sprintf("for i in $(seq %d); do sleep 100000 & done; while :; do %s; sleep %g; done",
		*flagTasks-1, strings.Join(reads, "; "), flagPeriod.Seconds())
	// The sleepers are the shells' children, which the harness does not
	// know: kill every process of the tree before it removes the cgroups.
	var cgs []*testenv.Cgroup
	var readers []*os.Process
	t.Cleanup(func() {
		for _, cg := range cgs {
			for _, pid := range cg.Procs() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(200 * time.Millisecond)
	})
	start := time.Now()
	for i := range *flagN {
		cg := root.Child(fmt.Sprintf("c%d", i))
		cgs = append(cgs, cg)
		p, err := cg.Start(nil, nil, *flagShell, "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, p)
	}
	busy := root.Child("busy").CPUQuota(20000, 100000)
	cgs = append(cgs, busy)
	if _, err := busy.Start(nil, nil, "sh", "-c", "while :; do :; done"); err != nil {
		t.Fatal(err)
	}
	idle := root.Child("c0")
	t.Logf("started %d cgroups x %d tasks in %v", *flagN, *flagTasks, time.Since(start).Round(time.Millisecond))
	time.Sleep(*flagWarm)

	read := func(cg *testenv.Cgroup, tg target) string {
		s, err := cg.ReadFile(tg.path("proc/loadavg"))
		if err != nil {
			return "error: " + err.Error()
		}
		return strings.TrimSpace(s)
	}
	stats := make([]daemonStats, len(targets))
	cpu0 := make([]float64, len(targets))
	for i, tg := range targets {
		stats[i].Name = tg.name
		stats[i].BusyStart = read(busy, tg)
		cpu0[i] = procCPU(t, tg.pid)
	}
	t0 := time.Now()
	time.Sleep(*flagWindow)
	elapsed := time.Since(t0).Seconds()
	for i, tg := range targets {
		stats[i].CPUSeconds = procCPU(t, tg.pid) - cpu0[i]
		stats[i].CPUPercent = 100 * stats[i].CPUSeconds / elapsed
		stats[i].RSSKiB = proctree.RSSKiB(tg.pid)
		stats[i].BusyEnd = read(busy, tg)
		stats[i].IdleSample = read(idle, tg)
	}

	// Second window: the readers stopped (SIGSTOP), so that what remains
	// is the sampler of the same 200 tracked containers (lxcfs tracks a
	// container until its cgroup empties, lxcfs-go for 10 minutes after
	// its last read).
	for _, p := range readers {
		p.Signal(syscall.SIGSTOP)
	}
	time.Sleep(2 * time.Second)
	for i, tg := range targets {
		cpu0[i] = procCPU(t, tg.pid)
	}
	t1 := time.Now()
	time.Sleep(*flagWindow)
	elapsed1 := time.Since(t1).Seconds()
	for i, tg := range targets {
		stats[i].SamplerCPUSeconds = procCPU(t, tg.pid) - cpu0[i]
		stats[i].SamplerCPUPercent = 100 * stats[i].SamplerCPUSeconds / elapsed1
	}
	for _, p := range readers {
		p.Signal(syscall.SIGCONT)
	}

	rep := report{Cgroups: *flagN, Shell: *flagShell, TasksPerGroup: *flagTasks, WindowSeconds: elapsed, Daemons: stats}
	fmt.Printf("\nloadavg sampler at scale: %d cgroups x %d tasks, a %s reader in each every %v, %.1f s window\n\n",
		*flagN, *flagTasks, *flagShell, *flagPeriod, elapsed)
	fmt.Printf("%-12s %9s %7s %14s %10s  %-28s %-28s %s\n", "daemon", "cpu s", "cpu %", "sampler cpu s", "rss MiB",
		"busy cgroup at start", "busy cgroup at end", "an idle cgroup")
	for _, s := range stats {
		fmt.Printf("%-12s %9.2f %7.1f %14.3f %10.1f  %-28s %-28s %s\n", s.Name, s.CPUSeconds, s.CPUPercent,
			s.SamplerCPUSeconds, float64(s.RSSKiB)/1024, s.BusyStart, s.BusyEnd, s.IdleSample)
	}
	fmt.Printf("\ncpu s: readers reading; sampler cpu s: the same %v with the readers stopped\n", *flagWindow)
	byName := func(prefix string) *daemonStats {
		for i := range stats {
			if strings.HasPrefix(stats[i].Name, prefix) {
				return &stats[i]
			}
		}
		return nil
	}
	if ref := byName("lxcfs "); ref != nil && ref.CPUSeconds > 0 {
		rep.Ratio = stats[0].CPUSeconds / ref.CPUSeconds
		fmt.Printf("CPU ours / reference, with readers: %.3f\n", rep.Ratio)
		if fl := byName("floor"); fl != nil && ref.CPUSeconds > fl.CPUSeconds {
			// What each daemon spends beyond the FUSE round trips that any
			// server pays for the same reads.
			rep.WorkRatio = (stats[0].CPUSeconds - fl.CPUSeconds) / (ref.CPUSeconds - fl.CPUSeconds)
			fmt.Printf("CPU beyond the floor's, ours / reference: %.3f\n", rep.WorkRatio)
		}
	}
	if fl := byName("floor"); fl != nil && fl.CPUSeconds > 0 {
		rep.FloorRatio = stats[0].CPUSeconds / fl.CPUSeconds
		fmt.Printf("CPU ours / floor, with readers: %.3f\n", rep.FloorRatio)
	}
	if ref := byName("lxcfs "); ref != nil && ref.SamplerCPUSeconds > 0 {
		rep.SamplerRatio = stats[0].SamplerCPUSeconds / ref.SamplerCPUSeconds
		fmt.Printf("CPU ours / reference, sampler only: %.3f (goal: at most 0.2)\n", rep.SamplerRatio)
	}
	if *flagOut != "" {
		if _, err := benchout.Write(*flagOut, rep); err != nil {
			t.Error(err)
		}
	}

	o := stats[0]
	if !(load1(o.BusyEnd) > load1(o.BusyStart)) {
		t.Errorf("lxcfs-go: the busy cgroup's load1 did not rise over the window: %q -> %q", o.BusyStart, o.BusyEnd)
	}
	if f := strings.Fields(o.IdleSample); len(f) < 4 || !strings.HasSuffix(f[3], "/"+strconv.Itoa(*flagTasks)) && !strings.HasSuffix(f[3], "/"+strconv.Itoa(*flagTasks+1)) {
		t.Errorf("lxcfs-go: an idle cgroup shows %q, want %d (or +1 for a transient sleep) tasks", o.IdleSample, *flagTasks)
	}
	if rep.SamplerRatio > 0.2 {
		t.Errorf("lxcfs-go's sampler used %.3f of the reference's CPU; the goal is at most 0.2", rep.SamplerRatio)
	}
}

// Package density is the density benchmark behind `make bench-density`
// (issue 18): N containers (default 2,000), each its own pid namespace and
// cgroups (memory with a limit, cpu, cpuacct, cpuset, pids, and the
// unified hierarchy) with a sleeping init and a reader, its child, that
// reads meminfo, stat and loadavg from lxcfs-go -l and from the reference
// lxcfs -l every 10 s. Containers start in batches; the first read of each
// is the daemons' first sight of it (its init looked up, its cgroups
// opened). Once all run, a window (default 60 s) gives each daemon's CPU
// time, its RSS at the end and the p50/p99 latency of every read made in
// it.
//
//	make bench-density
//	go test -c -o /tmp/bd ./bench/density && /tmp/bd -test.run=TestDensityBench -bench.density -bench.n=200
//
// Without -bench.density the test skips, so `go test ./...` stays quick.
package density

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/bench/floor"
	"github.com/lxcfs-go/lxcfs-go/bench/internal/benchout"
	"github.com/lxcfs-go/lxcfs-go/bench/internal/helpermount"
	"github.com/lxcfs-go/lxcfs-go/bench/internal/proctree"
	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/internal/timerslack"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

var (
	flagRun    = flag.Bool("bench.density", false, "run the density benchmark (needs root, /dev/fuse, cgroups)")
	flagN      = flag.Int("bench.n", 2000, "containers")
	flagBatch  = flag.Int("bench.batch", 100, "containers started at a time; the next batch starts once every container has made its first round")
	flagPeriod = flag.Duration("bench.period", 10*time.Second, "each reader reads meminfo, stat and loadavg from every daemon this often")
	flagWindow = flag.Duration("bench.window", 60*time.Second, "measured window, once every container runs")
	flagWarm   = flag.Duration("bench.warmup", 0, "wait between the last container's first round and the window (0: one period and 2 s, so every reader is on its schedule)")
	flagMem    = flag.Int64("bench.memory", 256<<20, "each container's memory limit in bytes")
	flagNoRef  = flag.Bool("bench.noref", false, "skip the reference lxcfs")
	flagFloor  = flag.Bool("bench.floor", true, "also serve the floor: fixed text over lxcfs-go's classic loop, with its timer slack")
	flagArgs   = flag.String("bench.args", "", "extra lxcfs-go arguments, e.g. \"--fuse-uring=on\"")
	flagOut    = flag.String("bench.out", "bench/out/density.json", "JSON output ('' for none); relative to the module root")
)

// roleReader is argv[1] of this binary re-executed as a container's reader;
// roleFloor serves the floor.
const (
	roleReader = "lxcfs-bench-density-reader"
	roleFloor  = "lxcfs-bench-density-floor"
)

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == roleReader {
		os.Exit(runReader(os.Args[2]))
	}
	if len(os.Args) == 3 && os.Args[1] == roleFloor {
		os.Exit(runFloor(os.Args[2]))
	}
	testenv.Main(m)
}

// runFloor serves the host's text of every file read here, as it is now,
// over lxcfs-go's classic loop with the daemon's timer slack: what serving
// the containers costs with nothing to render, the least any server on our
// loop can cost.
func runFloor(mnt string) int {
	texts := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile("/proc/" + f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "floor: %v\n", err)
			return 1
		}
		texts["proc/"+f] = b
	}
	// The daemon's value (cmd/lxcfs-go/slack.go) for its classic loop.
	if err := timerslack.Set(time.Millisecond); err != nil {
		fmt.Fprintf(os.Stderr, "floor: %v\n", err)
		return 1
	}
	if err := floor.ServeOurLoop(mnt, texts, fs.URingOff); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// files are what each reader reads, in this order; a record's File indexes
// it.
var files = []string{"meminfo", "stat", "loadavg"}

// Issue 18's density goals at 2,000 containers.
const (
	goalCPURatio = 0.3
	goalRSSBytes = 100e6
	goalP99      = 5 * time.Millisecond
)

// target is one mounted daemon.
type target struct {
	role string // ours, ref or floor
	name string
	pid  int
	mnt  string
}

// Latency summarises read latencies in microseconds.
type Latency struct {
	Reads  int     `json:"reads"`
	Errors int     `json:"errors"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	MaxUs  float64 `json:"max_us"`
}

// DaemonResult is one daemon's figures.
type DaemonResult struct {
	Role       string  `json:"role"` // ours, ref or floor
	Name       string  `json:"name"`
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSKiB     int64   `json:"rss_kib"`
	// RunsPerSecond is how often the daemon's threads (and its helpers')
	// were scheduled onto a CPU over the window: wake-ups, each a context
	// switch, which cost a VM dearly.
	RunsPerSecond float64 `json:"runs_per_second"`
	// Window is every read of the window; PerFile splits it by file.
	Window  Latency            `json:"window"`
	PerFile map[string]Latency `json:"window_per_file"`
	// First is the container's very first read on this daemon (meminfo),
	// FirstPerFile the first read of each file.
	First        Latency            `json:"first_read"`
	FirstPerFile map[string]Latency `json:"first_read_per_file"`
	// HostViews counts meminfo reads that showed the host's MemTotal, not
	// the container's limit.
	HostViews int `json:"host_views"`
}

// Goal is one of issue 18's density goals, as a ratio to its limit.
type Goal struct {
	What  string  `json:"what"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Ratio float64 `json:"ratio_to_limit"`
	Met   bool    `json:"met"`
	// Floor is the floor's own value, where it has one (-bench.floor);
	// Attainable is false when the floor misses the limit too.
	Floor      float64 `json:"floor,omitempty"`
	Attainable bool    `json:"attainable"`
}

// Report is bench/out/density.json.
type Report struct {
	Containers    int            `json:"containers"`
	Controllers   []string       `json:"controllers"`
	MemoryLimit   int64          `json:"memory_limit_bytes"`
	PeriodSeconds float64        `json:"period_seconds"`
	WindowSeconds float64        `json:"window_seconds"`
	RampSeconds   float64        `json:"ramp_seconds"`
	Batch         int            `json:"batch"`
	Daemons       []DaemonResult `json:"daemons"`
	// The containers' own cost: their memory (inits and readers) and their
	// tasks (threads) at the end.
	ContainersMemoryKiB int64 `json:"containers_memory_kib"`
	ContainersTasks     int64 `json:"containers_tasks"`
	// Over the window, in percent of one CPU: what the containers (their
	// readers) used, and every task on the host (both daemons, the
	// containers, this benchmark, and whatever else runs there); CPUs is
	// how many the host has.
	ContainersCPUPercent float64 `json:"containers_cpu_percent"`
	HostCPUPercent       float64 `json:"host_cpu_percent"`
	CPUs                 int     `json:"cpus"`
	// BatchFirstP99us is, per batch, the p99 of its containers' first
	// reads, per daemon: does the first-seen cost grow with the count?
	BatchFirstP99us map[string][]float64 `json:"batch_first_read_p99_us"`
	CPURatio        float64              `json:"cpu_ratio_ours_to_reference,omitempty"`
	FloorCPURatio   float64              `json:"cpu_ratio_floor_to_reference,omitempty"`
	Goals           []Goal               `json:"goals"`
}

func TestDensityBench(t *testing.T) {
	if !*flagRun {
		t.Skip("the density benchmark runs with -bench.density (make bench-density)")
	}
	testenv.RequireMountAndCgroups(t)
	// SIGINT (Ctrl-C), SIGTERM and SIGHUP end the run through t.Fatal, so
	// that every cleanup runs: containers killed, cgroups removed, daemons
	// stopped and unmounted. The handler stays until the last cleanup.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	t.Cleanup(stop)
	pause := func(d time.Duration) {
		t.Helper()
		select {
		case <-ctx.Done():
			t.Fatal("interrupted; cleaning up")
		case <-time.After(d):
		}
	}

	ours := testenv.StartDaemon(t, append([]string{"-l"}, strings.Fields(*flagArgs)...)...)
	targets := []target{{"ours", "lxcfs-go", ours.PID, ours.Mnt}}
	if !*flagNoRef {
		ref := testenv.StartReference(t, "-l")
		targets = append(targets, target{"ref", "lxcfs " + testenv.ReferenceVersion(t), ref.PID, ref.Mnt})
	}
	if *flagFloor {
		mnt, pid := helpermount.Start(t, roleFloor)
		targets = append(targets, target{"floor", "floor", pid, mnt})
	}

	controllers := []string{"memory", "cpu", "cpuacct", "cpuset"}
	if hasController("pids") {
		controllers = append(controllers, "pids")
	}
	root := testenv.NewCgroup(t, testenv.CgroupOptions{Controllers: controllers})

	// Every reader writes its records to one pipe; one goroutine here
	// collects them.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	collected := make(chan struct{})
	go func() { col.run(pr); close(collected) }()
	t.Cleanup(func() {
		// After the containers' cleanups (registered later, run earlier):
		// no reader holds the pipe any more.
		pw.Close()
		select {
		case <-collected:
		case <-time.After(5 * time.Second):
		}
		pr.Close()
	})
	stderrPath := filepath.Join(t.TempDir(), "readers.stderr")
	readersStderr, err := os.OpenFile(stderrPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		readersStderr.Close()
		if b, _ := os.ReadFile(stderrPath); len(b) > 0 {
			t.Logf("readers' stderr (first 2 KiB):\n%s", b[:min(len(b), 2048)])
		}
	})

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var paths [][]string
	for _, tg := range targets {
		var p []string
		for _, f := range files {
			p = append(p, filepath.Join(tg.mnt, "proc", f))
		}
		paths = append(paths, p)
	}
	// Every container is killed at once when the run ends, interrupted or
	// not (a defer runs before the cleanups), rather than one by one with
	// a few seconds each in the cleanups: a reader whose request a loaded
	// daemon has already read dies only once that daemon answers it.
	var containers []*testenv.Container
	defer func() { stopContainers(t, containers) }()
	epoch := time.Now().UnixNano()
	n, batch := *flagN, max(1, *flagBatch)
	var batches [][2]int // [first, end) container of each batch
	rampStart := time.Now()
	for first := 0; first < n; first += batch {
		end := min(n, first+batch)
		for i := first; i < end; i++ {
			if ctx.Err() != nil {
				t.Fatal("interrupted; cleaning up")
			}
			spec, _ := json.Marshal(readerSpec{
				Container: i, Paths: paths, Epoch: epoch, Period: *flagPeriod,
				// The golden ratio spreads any number of readers evenly.
				Offset:      time.Duration(float64(*flagPeriod) * math.Mod(float64(i)*0.6180339887, 1)),
				MemTotalKiB: *flagMem / 1024,
			})
			cg := root.Child("c" + strconv.Itoa(i)).MemoryLimit(*flagMem)
			containers = append(containers, testenv.StartContainer(t, cg, testenv.ContainerOptions{
				// One thread of Go's scheduler: fewer threads per reader.
				Child:  []string{"env", "GOMAXPROCS=1", self, roleReader, string(spec)},
				Stdout: pw,
				Stderr: readersStderr,
			}))
		}
		batches = append(batches, [2]int{first, end})
		// The next batch starts once this one's first rounds are in.
		want := end * len(targets) * len(files)
		for deadline := time.Now().Add(60 * time.Second); col.firsts() < want; {
			if time.Now().After(deadline) {
				t.Logf("batch %d-%d: %d of %d first reads in after 60 s", first, end, col.firsts(), want)
				break
			}
			pause(20 * time.Millisecond)
		}
	}
	ramp := time.Since(rampStart)
	t.Logf("%d containers started in %v", n, ramp.Round(time.Millisecond))

	warm := *flagWarm
	if warm == 0 {
		warm = *flagPeriod + 2*time.Second
	}
	pause(warm)

	cpu0 := make([]float64, len(targets))
	runs0 := make([]int64, len(targets))
	for i, tg := range targets {
		cpu0[i], runs0[i] = daemonSeconds(t, tg), proctree.Timeslices(tg.pid)
	}
	host0, err := testenv.RootCPUUsage()
	if err != nil {
		t.Fatal(err)
	}
	cts0 := root.CPUUsage()
	t0 := time.Now()
	pause(*flagWindow)
	t1 := time.Now()
	elapsed := t1.Sub(t0).Seconds()
	host1, err := testenv.RootCPUUsage()
	if err != nil {
		t.Fatal(err)
	}
	rep := Report{
		Containers: n, Controllers: controllers, MemoryLimit: *flagMem, Batch: batch,
		PeriodSeconds: flagPeriod.Seconds(), WindowSeconds: elapsed, RampSeconds: ramp.Seconds(),
		BatchFirstP99us:      map[string][]float64{},
		ContainersCPUPercent: math.Round(1000*(root.CPUUsage()-cts0).Seconds()/elapsed) / 10,
		HostCPUPercent:       math.Round(1000*(host1-host0).Seconds()/elapsed) / 10,
		CPUs:                 runtime.NumCPU(),
	}
	for i, tg := range targets {
		cpu := daemonSeconds(t, tg) - cpu0[i]
		rep.Daemons = append(rep.Daemons, DaemonResult{
			Role: tg.role, Name: tg.name, CPUSeconds: cpu, CPUPercent: 100 * cpu / elapsed, RSSKiB: proctree.RSSKiB(tg.pid),
			RunsPerSecond: math.Round(float64(proctree.Timeslices(tg.pid)-runs0[i]) / elapsed),
		})
	}
	rep.ContainersMemoryKiB, rep.ContainersTasks = containersCost(root)
	recs := col.all()
	for i := range targets {
		analyze(&rep, i, recs, t0.UnixNano(), t1.UnixNano(), batches)
	}
	if r := rep.daemon("ref"); r != nil && r.CPUSeconds > 0 {
		rep.CPURatio = rep.Daemons[0].CPUSeconds / r.CPUSeconds
		g := goal("daemon CPU, ours / lxcfs", rep.CPURatio, goalCPURatio)
		if f := rep.daemon("floor"); f != nil {
			// The floor renders nothing: if even it misses the goal,
			// no server on our loop meets it here.
			rep.FloorCPURatio = f.CPUSeconds / r.CPUSeconds
			g.Floor, g.Attainable = math.Round(rep.FloorCPURatio*1000)/1000, rep.FloorCPURatio <= goalCPURatio
		}
		rep.Goals = append(rep.Goals, g)
	}
	o := rep.Daemons[0]
	rep.Goals = append(rep.Goals,
		goal("lxcfs-go RSS, MB", float64(o.RSSKiB)*1024/1e6, goalRSSBytes/1e6),
		goal("lxcfs-go p99 read latency, ms", o.Window.P99us/1e3, float64(goalP99)/float64(time.Millisecond)))
	printReport(os.Stdout, &rep)
	if *flagOut != "" {
		path, err := benchout.Write(*flagOut, rep)
		if err != nil {
			t.Error(err)
		} else {
			fmt.Printf("\nwrote %s\n", path)
		}
	}

	// Correctness, not speed: every read of ours must succeed and show the
	// reader's container.
	if o.Window.Errors > 0 || o.First.Errors > 0 {
		t.Errorf("lxcfs-go: %d failed reads in the window, %d failed first reads", o.Window.Errors, o.First.Errors)
	}
	if o.HostViews > 0 {
		t.Errorf("lxcfs-go: %d meminfo reads showed the host's MemTotal, not the container's %d bytes", o.HostViews, *flagMem)
	}
	if got, want := o.Window.Reads, n*len(files)*int(elapsed/flagPeriod.Seconds()); got < want*9/10 {
		t.Errorf("lxcfs-go: %d reads in the window, want about %d: readers missing or stalled", got, want)
	}
}

// stopContainers kills every container and waits up to a minute for all
// of them to exit.
func stopContainers(t *testing.T, cts []*testenv.Container) {
	start := time.Now()
	for _, ct := range cts {
		ct.Kill()
	}
	deadline := time.After(time.Minute)
	for _, ct := range cts {
		select {
		case <-ct.Done():
		case <-deadline:
			t.Errorf("containers still running a minute after SIGKILL")
			return
		}
	}
	t.Logf("%d containers stopped in %v", len(cts), time.Since(start).Round(time.Millisecond))
}

// hasController reports whether the host has controller c in a v1
// hierarchy or in cgroup2.
func hasController(c string) bool {
	l, err := testenv.HostLayout()
	if err != nil {
		return false
	}
	if _, ok := l.V1[c]; ok {
		return true
	}
	if l.Unified == "" {
		return false
	}
	b, _ := os.ReadFile(filepath.Join(l.Unified, "cgroup.controllers"))
	return slices.Contains(strings.Fields(string(b)), c)
}

// daemonSeconds is the CPU time of a daemon and its helper processes.
func daemonSeconds(t *testing.T, tg target) float64 {
	t.Helper()
	s, ok := proctree.ProcessSeconds(tg.pid)
	if !ok {
		t.Fatalf("%s (pid %d) is gone", tg.name, tg.pid)
	}
	return s
}

// containersCost is the memory charged to every container (v1
// memory.usage_in_bytes, v2 memory.current of the parent of all) and
// their tasks (pids.current), 0 when unknown.
func containersCost(root *testenv.Cgroup) (memKiB, tasks int64) {
	file := "memory.usage_in_bytes"
	if root.V2("memory") {
		file = "memory.current"
	}
	b, _ := strconv.ParseInt(root.Get("memory", file), 10, 64)
	if hasController("pids") {
		tasks, _ = strconv.ParseInt(root.Get("pids", "pids.current"), 10, 64)
	}
	return b / 1024, tasks
}

// collector gathers the records of every reader from the shared pipe.
type collector struct {
	mu    sync.Mutex
	recs  []record
	first int
}

func (c *collector) run(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		var rec record
		if err := binary.Read(br, binary.LittleEndian, &rec); err != nil {
			return
		}
		c.mu.Lock()
		c.recs = append(c.recs, rec)
		if rec.First == 1 {
			c.first++
		}
		c.mu.Unlock()
	}
}

// firsts is how many records of first rounds have arrived.
func (c *collector) firsts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

func (c *collector) all() []record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// analyze fills rep.Daemons[ti]'s latencies from the records: the window's
// reads (start in [from, to), first rounds left out), and the first
// reads of every container.
func analyze(rep *Report, ti int, recs []record, from, to int64, batches [][2]int) {
	d := &rep.Daemons[ti]
	var window, first []int64
	perFile := make([][]int64, len(files))
	firstPerFile := make([][]int64, len(files))
	var windowErrs, firstErrs int
	fileErrs := make([]int, len(files))
	firstFileErrs := make([]int, len(files))
	firstByContainer := map[uint32]int64{}
	for _, r := range recs {
		if int(r.Target) != ti {
			continue
		}
		if r.View == viewHost {
			d.HostViews++
		}
		switch {
		case r.First == 1:
			if r.Errno != 0 {
				firstFileErrs[r.File]++
				if r.File == 0 {
					firstErrs++
				}
				continue
			}
			firstPerFile[r.File] = append(firstPerFile[r.File], r.Nanos)
			if r.File == 0 {
				first = append(first, r.Nanos)
				firstByContainer[r.Container] = r.Nanos
			}
		case r.Start >= from && r.Start < to:
			if r.Errno != 0 {
				windowErrs++
				fileErrs[r.File]++
				continue
			}
			window = append(window, r.Nanos)
			perFile[r.File] = append(perFile[r.File], r.Nanos)
		}
	}
	d.Window = summarize(window, windowErrs)
	d.First = summarize(first, firstErrs)
	d.PerFile = map[string]Latency{}
	d.FirstPerFile = map[string]Latency{}
	for i, f := range files {
		d.PerFile[f] = summarize(perFile[i], fileErrs[i])
		d.FirstPerFile[f] = summarize(firstPerFile[i], firstFileErrs[i])
	}
	for _, b := range batches {
		var lat []int64
		for c := b[0]; c < b[1]; c++ {
			if v, ok := firstByContainer[uint32(c)]; ok {
				lat = append(lat, v)
			}
		}
		rep.BatchFirstP99us[d.Name] = append(rep.BatchFirstP99us[d.Name], summarize(lat, 0).P99us)
	}
}

// summarize sorts lat (nanoseconds) and gives its quantiles in
// microseconds.
func summarize(lat []int64, errs int) Latency {
	slices.Sort(lat)
	l := Latency{Reads: len(lat), Errors: errs}
	if len(lat) == 0 {
		return l
	}
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return math.Round(float64(lat[max(0, min(i, len(lat)-1))])/100) / 10
	}
	l.P50us, l.P99us = q(0.50), q(0.99)
	l.MaxUs = math.Round(float64(lat[len(lat)-1])/100) / 10
	return l
}

func goal(what string, value, limit float64) Goal {
	return Goal{What: what, Value: math.Round(value*1000) / 1000, Limit: limit,
		Ratio: math.Round(value/limit*1000) / 1000, Met: value <= limit, Attainable: true}
}

// daemon is the result of the target with role, or nil.
func (rep *Report) daemon(role string) *DaemonResult {
	for i := range rep.Daemons {
		if rep.Daemons[i].Role == role {
			return &rep.Daemons[i]
		}
	}
	return nil
}

func printReport(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "\ndensity: %d containers (own pid namespace; cgroups %s + unified; memory limit %d MiB), a sleeping init and a reader of %s from every daemon each %v\n",
		rep.Containers, strings.Join(rep.Controllers, ","), rep.MemoryLimit>>20, strings.Join(files, ", "),
		time.Duration(rep.PeriodSeconds*float64(time.Second)))
	fmt.Fprintf(w, "ramp: %d batch(es) of up to %d in %.1f s; window %.1f s; the containers themselves: %.0f MiB (%.2f MiB each), %d tasks\n",
		len(rep.BatchFirstP99us[rep.Daemons[0].Name]), rep.Batch, rep.RampSeconds, rep.WindowSeconds,
		float64(rep.ContainersMemoryKiB)/1024, float64(rep.ContainersMemoryKiB)/1024/float64(max(1, rep.Containers)), rep.ContainersTasks)
	fmt.Fprintf(w, "CPU over the window, %% of one CPU: the containers' readers %.1f, the whole host %.1f of %d00\n\n",
		rep.ContainersCPUPercent, rep.HostCPUPercent, rep.CPUs)
	fmt.Fprintf(w, "%-12s %7s %6s %7s %8s | %7s %4s %8s %8s %8s | %11s %11s %11s | %-22s %s\n",
		"daemon", "cpu s", "cpu %", "runs/s", "rss MiB", "reads", "errs", "p50 us", "p99 us", "max us",
		"meminfo p99", "stat p99", "loadavg p99", "first read p50/p99 us", "host views")
	for _, d := range rep.Daemons {
		views := strconv.Itoa(d.HostViews)
		if d.Role == "floor" {
			views = "- (host text)"
		}
		fmt.Fprintf(w, "%-12s %7.2f %6.1f %7.0f %8.1f | %7d %4d %8.1f %8.1f %8.1f | %11.1f %11.1f %11.1f | %9.1f/%-12.1f %s\n",
			d.Name, d.CPUSeconds, d.CPUPercent, d.RunsPerSecond, float64(d.RSSKiB)/1024,
			d.Window.Reads, d.Window.Errors, d.Window.P50us, d.Window.P99us, d.Window.MaxUs,
			d.PerFile["meminfo"].P99us, d.PerFile["stat"].P99us, d.PerFile["loadavg"].P99us,
			d.First.P50us, d.First.P99us, views)
	}
	if r := rep.daemon("ref"); r != nil {
		o := rep.Daemons[0]
		fmt.Fprintf(w, "%-12s %7s %6s %7s %8s | %7s %4s %8s %8s %8s | %11s %11s %11s | %9s/%-12s\n", "ours/lxcfs",
			ratio(o.CPUSeconds, r.CPUSeconds), "", ratio(o.RunsPerSecond, r.RunsPerSecond), ratio(float64(o.RSSKiB), float64(r.RSSKiB)), "", "",
			ratio(o.Window.P50us, r.Window.P50us), ratio(o.Window.P99us, r.Window.P99us), ratio(o.Window.MaxUs, r.Window.MaxUs),
			ratio(o.PerFile["meminfo"].P99us, r.PerFile["meminfo"].P99us), ratio(o.PerFile["stat"].P99us, r.PerFile["stat"].P99us),
			ratio(o.PerFile["loadavg"].P99us, r.PerFile["loadavg"].P99us),
			ratio(o.First.P50us, r.First.P50us), ratio(o.First.P99us, r.First.P99us))
	}
	fmt.Fprintf(w, "\nfirst read: a container's very first read on the daemon (meminfo); p99 of each batch's first reads, us:\n")
	for _, d := range rep.Daemons {
		fmt.Fprintf(w, "  %-12s", d.Name)
		for _, v := range rep.BatchFirstP99us[d.Name] {
			fmt.Fprintf(w, " %.0f", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\ngoals (issue 18, at 2,000 containers; reported, not asserted):\n")
	for _, g := range rep.Goals {
		mark := "met "
		if !g.Met {
			mark = "MISS"
		}
		fmt.Fprintf(w, "  %s %-32s %9.3f  limit %7.3f  (%.2fx the limit)", mark, g.What, g.Value, g.Limit, g.Ratio)
		if g.Floor > 0 {
			fmt.Fprintf(w, "  floor %.3f", g.Floor)
			if !g.Attainable {
				fmt.Fprintf(w, ": beyond any server on our loop here")
			}
		}
		fmt.Fprintln(w)
	}
}

// ratio formats a/b, or "-" when b is 0.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "x"
}

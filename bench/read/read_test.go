// Package read is the read benchmark behind `make bench-read`: it mounts
// lxcfs-go, the reference lxcfs and a trivial go-fuse server (the floor)
// side by side, and from readers inside a limited cgroup measures, for each
// virtual file, open + read to EOF + close with 1 and 8 concurrent readers,
// and the same on the kernel's own file. It prints a table of ratios and
// writes JSON.
//
//	make bench-read                          # build, run, write bench/out/read.json
//	go test -c -o /tmp/br ./bench/read && /tmp/br -test.run=TestReadBench -bench.read -bench.rounds=5
//
// Without -bench.read the test skips, so `go test ./...` stays quick.
package read

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/bench/internal/helpermount"
	"github.com/lxcfs-go/lxcfs-go/bench/internal/proctree"
	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

var (
	flagRun      = flag.Bool("bench.read", false, "run the read benchmark (needs root, /dev/fuse, cgroups)")
	flagDuration = flag.Duration("bench.time", 400*time.Millisecond, "measured time per file, target, concurrency and round")
	flagWarmup   = flag.Duration("bench.warmup", 100*time.Millisecond, "warm-up before each measurement")
	flagRounds   = flag.Int("bench.rounds", 3, "interleaved rounds; latencies of all rounds are pooled")
	flagConc     = flag.String("bench.conc", "1,8", "concurrent readers, comma-separated")
	flagFiles    = flag.String("bench.files", "", "files to measure, comma-separated (default: all): "+fileNames())
	flagOut      = flag.String("bench.out", "bench/out/read.json", "JSON output ('' for none); relative to the working directory")
	flagNoRef    = flag.Bool("bench.noref", false, "skip the reference lxcfs")
	flagProfile  = flag.String("bench.cpuprofile", "", "serve lxcfs-go from this test binary (same fs and content packages) and write its CPU profile here")
	flagOursArgs = flag.String("bench.args", "", "extra arguments for lxcfs-go, space-separated")
	flagURing    = flag.Bool("bench.uring", true, "also measure the floors over our own loop (classic and io_uring) and serve lxcfs-go with --fuse-uring=on; sets enable_uring=Y for the run and puts the value found back")
	flagCont     = flag.Bool("bench.container", false, "run the readers in a container (a new pid namespace whose init is in the cgroup) rather than in the host's pid namespace")
)

// benchFile is one measured file: rel below a lxcfs mount, host the
// kernel's own file.
type benchFile struct {
	name, rel, host string
}

var allFiles = []benchFile{
	{"meminfo", "proc/meminfo", "/proc/meminfo"},
	{"cpuinfo", "proc/cpuinfo", "/proc/cpuinfo"},
	{"stat", "proc/stat", "/proc/stat"},
	{"uptime", "proc/uptime", "/proc/uptime"},
	{"loadavg", "proc/loadavg", "/proc/loadavg"},
	{"swaps", "proc/swaps", "/proc/swaps"},
	{"online", "sys/devices/system/cpu/online", "/sys/devices/system/cpu/online"},
}

// goalFiles are the files the issue sets latency goals for.
var goalFiles = []string{"meminfo", "cpuinfo", "stat", "uptime", "loadavg", "online"}

func fileNames() string {
	var s []string
	for _, f := range allFiles {
		s = append(s, f.name)
	}
	return strings.Join(s, ",")
}

// Roles of re-executions of this binary (argv[1]).
const (
	roleReader = "lxcfs-bench-reader"
	roleFloor  = "lxcfs-bench-floor"
	roleOurs   = "lxcfs-bench-ours"
	// Floors over lxcfs-go's own loop (daemon.Mount).
	roleFloorClassic = "lxcfs-bench-floor-classic"
	roleFloorURing   = "lxcfs-bench-floor-uring"
)

func TestMain(m *testing.M) {
	if len(os.Args) >= 3 {
		switch os.Args[1] {
		case roleReader:
			os.Exit(runReader(os.Args[2]))
		case roleFloor:
			os.Exit(runFloor(os.Args[2], ""))
		case roleFloorClassic:
			os.Exit(runFloor(os.Args[2], fs.URingOff))
		case roleFloorURing:
			os.Exit(runFloor(os.Args[2], fs.URingOn))
		case roleOurs:
			os.Exit(runOurs(os.Args[2], os.Args[3], os.Args[4:]))
		}
	}
	testenv.Main(m)
}

// Targets in table order.
const (
	tKernel = "kernel"
	tFloor  = "floor"
	// The same floor over our own loop: classic /dev/fuse and io_uring.
	tFloorC = "fl-ours"
	tFloorU = "fl-uring"
	tOurs   = "lxcfs-go"
	tRef    = "lxcfs"
)

// Stats summarises one (file, target, concurrency).
type Stats struct {
	Ops      int     `json:"ops"`
	OpsPerS  float64 `json:"ops_per_s"`
	P50us    float64 `json:"p50_us"`
	P90us    float64 `json:"p90_us"`
	P99us    float64 `json:"p99_us"`
	MaxUs    float64 `json:"max_us"`
	MeanUs   float64 `json:"mean_us"`
	Bytes    int64   `json:"bytes"`
	Errors   int     `json:"errors"`
	FirstErr string  `json:"first_error,omitempty"`
	// ServerCPUus is the serving daemon's CPU time per op (user+system,
	// all threads), warm-up included; 0 for the kernel.
	ServerCPUus float64 `json:"server_cpu_us_per_op"`

	cpuNanos, allOps int64
}

// Report is the JSON output.
type Report struct {
	Time      time.Time                                `json:"time"`
	Host      string                                   `json:"host"`
	Kernel    string                                   `json:"kernel"`
	CPUs      int                                      `json:"cpus"`
	GoVersion string                                   `json:"go"`
	Reference string                                   `json:"reference_version,omitempty"`
	Cgroup    string                                   `json:"cgroup"`
	Settings  map[string]string                        `json:"settings"`
	Results   map[string]map[string]map[string]*Stats  `json:"results"` // file -> target -> "c1"/"c8"
	Ratios    map[string]map[string]map[string]float64 `json:"ratios"`  // file -> "c1" -> name
	RSSKiB    map[string]int64                         `json:"rss_kib"`
	Goals     []Goal                                   `json:"goals"`
	_         struct{}
}

// Goal is one of the targets, checked on this run.
type Goal struct {
	What  string  `json:"what"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Met   bool    `json:"met"`
	// Floor is the same ratio for the floor server, for goals relative to
	// the reference: when the floor itself misses the limit, no FUSE server
	// can meet it on this machine (the reference is too close to the cost
	// of the FUSE round trips here).
	Floor      float64 `json:"floor,omitempty"`
	Attainable bool    `json:"attainable"`
}

func TestReadBench(t *testing.T) {
	if !*flagRun {
		t.Skip("benchmark: run with -bench.read (make bench-read)")
	}
	testenv.RequireMountAndCgroups(t)

	files := allFiles
	if *flagFiles != "" {
		files = nil
		for _, n := range strings.Split(*flagFiles, ",") {
			i := slices.IndexFunc(allFiles, func(f benchFile) bool { return f.name == n })
			if i < 0 {
				t.Fatalf("unknown file %q (have %s)", n, fileNames())
			}
			files = append(files, allFiles[i])
		}
	}
	var concs []int
	for _, s := range strings.Split(*flagConc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c <= 0 {
			t.Fatalf("bad -bench.conc %q", *flagConc)
		}
		concs = append(concs, c)
	}

	// The limited cgroup the readers run in: a memory limit and a CPU quota
	// of all the host's CPUs, so that every file has something to
	// virtualize without the quota throttling the readers.
	root := testenv.NewCgroup(t, testenv.CgroupOptions{})
	cg := root.Child("bench")
	cg.MemoryLimit(512 << 20)
	cg.CPUQuota(int64(runtime.NumCPU())*100000, 100000)
	runReader := cg.Run
	if *flagCont {
		ct := testenv.StartContainer(t, cg, testenv.ContainerOptions{})
		runReader = func(argv ...string) (string, string, error) { return ct.Run(cg, argv...) }
	}

	targets := map[string]string{} // target -> mount point ("" for the kernel)
	pids := map[string]int{}
	uring := false
	if *flagURing {
		if b, err := os.ReadFile(fs.URingParam); err == nil {
			old := strings.TrimSpace(string(b))
			if err := fs.SetURingParam("Y"); err == nil {
				uring = true
				t.Cleanup(func() {
					if err := fs.SetURingParam(old); err != nil {
						t.Errorf("restoring enable_uring=%s: %v", old, err)
					}
				})
			}
		}
		if !uring {
			t.Log("no FUSE over io_uring here: floors over our loop skipped")
		}
	}

	// lxcfs-go.
	oursArgs := strings.Fields(*flagOursArgs)
	if uring && *flagProfile == "" {
		oursArgs = append(oursArgs, "--fuse-uring=on")
	}
	bin := testenv.DaemonBinary(t)
	if supportsLoadavg(bin) {
		oursArgs = append(oursArgs, "-l")
	}
	if *flagProfile != "" {
		mnt, pid := helpermount.Start(t, roleOurs, append([]string{*flagProfile}, oursArgs...)...)
		targets[tOurs], pids[tOurs] = mnt, pid
	} else {
		d := testenv.StartDaemon(t, oursArgs...)
		targets[tOurs], pids[tOurs] = d.Mnt, d.PID
	}
	// The reference, with -l when ours has load averages too.
	refVersion := ""
	if !*flagNoRef {
		var refArgs []string
		if slices.Contains(oursArgs, "-l") {
			refArgs = append(refArgs, "-l")
		}
		d := testenv.StartReference(t, refArgs...)
		targets[tRef], pids[tRef] = d.Mnt, d.PID
		refVersion = testenv.ReferenceVersion(t)
	}
	// The floor.
	targets[tFloor], pids[tFloor] = helpermount.Start(t, roleFloor)
	if uring {
		targets[tFloorC], pids[tFloorC] = helpermount.Start(t, roleFloorClassic)
		targets[tFloorU], pids[tFloorU] = helpermount.Start(t, roleFloorURing)
	}
	targets[tKernel] = ""

	order := []string{tKernel, tFloor, tFloorC, tFloorU, tOurs, tRef}
	order = slices.DeleteFunc(order, func(s string) bool { _, ok := targets[s]; return !ok })
	pathOf := func(target string, f benchFile) string {
		if target == tKernel {
			return f.host
		}
		return filepath.Join(targets[target], f.rel)
	}

	// Sanity: every target serves every file to a reader in the cgroup.
	for _, f := range files {
		for _, tg := range order {
			if _, err := cg.ReadFile(pathOf(tg, f)); err != nil {
				t.Fatalf("%s %s: %v", tg, f.name, err)
			}
		}
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lat := map[string][]int64{} // key file|target|c
	agg := map[string]*Stats{}
	key := func(f, tg string, c int) string { return f + "|" + tg + "|" + strconv.Itoa(c) }
	begin := time.Now()
	for round := 0; round < *flagRounds; round++ {
		for _, c := range concs {
			// One reader process per round and concurrency measures every
			// (file, target), rotating the target order by round so that
			// no target always follows the same one.
			var paths []string
			var keys []string
			var servers []int
			for _, f := range files {
				for i := range order {
					tg := order[(i+round)%len(order)]
					paths = append(paths, pathOf(tg, f))
					servers = append(servers, pids[tg])
					keys = append(keys, key(f.name, tg, c))
				}
			}
			spec, _ := json.Marshal(readerSpec{Threads: c, Paths: paths, Servers: servers, Warmup: *flagWarmup, Duration: *flagDuration})
			stdout, stderr, err := runReader(self, roleReader, string(spec))
			if err != nil {
				t.Fatalf("reader (c=%d): %v\n%s", c, err, stderr)
			}
			var res []readerResult
			if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res) != len(paths) {
				t.Fatalf("reader (c=%d): bad output (%v)\n%s", c, err, stderr)
			}
			for i, r := range res {
				k := keys[i]
				lat[k] = append(lat[k], r.Latencies...)
				s := agg[k]
				if s == nil {
					s = &Stats{}
					agg[k] = s
				}
				s.OpsPerS += float64(len(r.Latencies)) / r.Seconds / float64(*flagRounds)
				s.Bytes = r.Bytes
				s.Errors += r.Errors
				s.cpuNanos += r.ServerCPUNanos
				s.allOps += r.AllOps
				if s.FirstErr == "" {
					s.FirstErr = r.FirstErr
				}
			}
		}
	}
	elapsed := time.Since(begin)

	rep := &Report{
		Time:      time.Now().UTC(),
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Reference: refVersion,
		Cgroup:    cg.Rel(),
		Settings: map[string]string{
			"time": flagDuration.String(), "warmup": flagWarmup.String(),
			"rounds": strconv.Itoa(*flagRounds), "conc": *flagConc,
			"lxcfs-go args": strings.Join(oursArgs, " "), "elapsed": elapsed.Round(time.Second).String(),
			"profiled":  strconv.FormatBool(*flagProfile != ""),
			"container": strconv.FormatBool(*flagCont),
		},
		Results: map[string]map[string]map[string]*Stats{},
		Ratios:  map[string]map[string]map[string]float64{},
		RSSKiB:  map[string]int64{},
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		rep.Host = unix.ByteSliceToString(uts.Nodename[:])
		rep.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	ck := func(c int) string { return "c" + strconv.Itoa(c) }
	for _, f := range files {
		rep.Results[f.name] = map[string]map[string]*Stats{}
		rep.Ratios[f.name] = map[string]map[string]float64{}
		for _, tg := range order {
			rep.Results[f.name][tg] = map[string]*Stats{}
			for _, c := range concs {
				s := agg[key(f.name, tg, c)]
				summarize(s, lat[key(f.name, tg, c)])
				rep.Results[f.name][tg][ck(c)] = s
			}
		}
		for _, c := range concs {
			r := map[string]float64{}
			ours := rep.Results[f.name][tOurs][ck(c)]
			if fl := rep.Results[f.name][tFloor]; fl != nil {
				r["p50_ours/floor"] = ratio(ours.P50us, fl[ck(c)].P50us)
				r["p99_ours/floor"] = ratio(ours.P99us, fl[ck(c)].P99us)
				r["cpu_ours/floor"] = ratio(ours.ServerCPUus, fl[ck(c)].ServerCPUus)
			}
			if fu := rep.Results[f.name][tFloorU]; fu != nil {
				r["p50_ours/uring"] = ratio(ours.P50us, fu[ck(c)].P50us)
				r["cpu_ours/uring"] = ratio(ours.ServerCPUus, fu[ck(c)].ServerCPUus)
				if fc := rep.Results[f.name][tFloorC]; fc != nil {
					r["p50_uring/classic"] = ratio(fu[ck(c)].P50us, fc[ck(c)].P50us)
					r["ops_uring/classic"] = ratio(fu[ck(c)].OpsPerS, fc[ck(c)].OpsPerS)
				}
			}
			if ref := rep.Results[f.name][tRef]; ref != nil {
				r["p50_ours/ref"] = ratio(ours.P50us, ref[ck(c)].P50us)
				r["p99_ours/ref"] = ratio(ours.P99us, ref[ck(c)].P99us)
				r["ops_ours/ref"] = ratio(ours.OpsPerS, ref[ck(c)].OpsPerS)
				r["cpu_ours/ref"] = ratio(ours.ServerCPUus, ref[ck(c)].ServerCPUus)
				if fl := rep.Results[f.name][tFloor]; fl != nil {
					r["p50_floor/ref"] = ratio(fl[ck(c)].P50us, ref[ck(c)].P50us)
					r["ops_floor/ref"] = ratio(fl[ck(c)].OpsPerS, ref[ck(c)].OpsPerS)
				}
				if fu := rep.Results[f.name][tFloorU]; fu != nil {
					r["ops_uring/ref"] = ratio(fu[ck(c)].OpsPerS, ref[ck(c)].OpsPerS)
				}
			}
			rep.Ratios[f.name][ck(c)] = r
		}
	}
	for tg, pid := range pids {
		rep.RSSKiB[tg] = proctree.RSSKiB(pid)
	}

	// Goals (issue 8): p50 at c=1 within 1.3x the floor and at most a third
	// of the reference's; throughput with 8 readers at least 3x the
	// reference's; RSS under 30 MB.
	for _, n := range goalFiles {
		r, ok := rep.Ratios[n]
		if !ok {
			continue
		}
		if v, ok := r["c1"]["p50_ours/floor"]; ok {
			rep.Goals = append(rep.Goals, Goal{What: n + " p50 ours/floor (c=1)", Value: v, Limit: 1.3, Met: v <= 1.3, Attainable: true})
		}
		if v, ok := r["c1"]["p50_ours/ref"]; ok {
			fl, hasFloor := r["c1"]["p50_floor/ref"]
			rep.Goals = append(rep.Goals, Goal{What: n + " p50 ours/ref (c=1)", Value: v, Limit: 1.0 / 3, Met: v <= 1.0/3,
				Floor: fl, Attainable: !hasFloor || fl <= 1.0/3})
		}
		if v, ok := r["c8"]["ops_ours/ref"]; ok {
			fl, hasFloor := bestOpsFloor(r["c8"])
			rep.Goals = append(rep.Goals, Goal{What: n + " ops/s ours/ref (c=8)", Value: v, Limit: 3, Met: v >= 3,
				Floor: fl, Attainable: !hasFloor || fl >= 3})
		}
	}
	// Goals (issue 18), against the io_uring floor: p50 at most 1.3x at 1
	// and 8 readers, server CPU per op at most 2x; throughput at least 3x
	// lxcfs's at 1 and 8 readers.
	for _, n := range goalFiles {
		r, ok := rep.Ratios[n]
		if !ok {
			continue
		}
		for _, c := range concs {
			k := ck(c)
			if v, ok := r[k]["p50_ours/uring"]; ok {
				rep.Goals = append(rep.Goals, Goal{What: fmt.Sprintf("%s p50 ours/uring-floor (c=%d)", n, c), Value: v, Limit: 1.3, Met: v <= 1.3, Attainable: true})
			}
			if v, ok := r[k]["cpu_ours/uring"]; ok {
				rep.Goals = append(rep.Goals, Goal{What: fmt.Sprintf("%s cpu ours/uring-floor (c=%d)", n, c), Value: v, Limit: 2, Met: v <= 2, Attainable: true})
			}
			if c != 8 { // c=8 is issue 8's goal above
				if v, ok := r[k]["ops_ours/ref"]; ok {
					fl, hasFloor := bestOpsFloor(r[k])
					rep.Goals = append(rep.Goals, Goal{What: fmt.Sprintf("%s ops/s ours/ref (c=%d)", n, c), Value: v, Limit: 3, Met: v >= 3,
						Floor: fl, Attainable: !hasFloor || fl >= 3})
				}
			}
		}
	}
	if v, ok := rep.RSSKiB[tOurs]; ok && v > 0 {
		mb := float64(v) / 1024
		rep.Goals = append(rep.Goals, Goal{What: "lxcfs-go RSS MiB after the run", Value: mb, Limit: 30, Met: mb < 30, Attainable: true})
	}

	printTable(os.Stdout, rep, files, order, concs)
	if *flagOut != "" {
		if err := os.MkdirAll(filepath.Dir(*flagOut), 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*flagOut, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("\nwrote %s\n", *flagOut)
	}
	for tg := range targets {
		for _, f := range files {
			for _, c := range concs {
				if s := rep.Results[f.name][tg][ck(c)]; s.Errors > 0 {
					t.Errorf("%s %s c=%d: %d errors, first: %s", tg, f.name, c, s.Errors, s.FirstErr)
				}
			}
		}
	}
}

func summarize(s *Stats, lat []int64) {
	slices.Sort(lat)
	s.Ops = len(lat)
	if len(lat) == 0 {
		return
	}
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return float64(lat[max(0, min(i, len(lat)-1))]) / 1e3
	}
	var sum float64
	for _, v := range lat {
		sum += float64(v)
	}
	s.P50us, s.P90us, s.P99us = q(0.50), q(0.90), q(0.99)
	s.MaxUs = float64(lat[len(lat)-1]) / 1e3
	s.MeanUs = sum / float64(len(lat)) / 1e3
	if s.allOps > 0 {
		s.ServerCPUus = math.Round(float64(s.cpuNanos)/float64(s.allOps)/100) / 10
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(a/b*1000) / 1000
}

func printTable(w io.Writer, rep *Report, files []benchFile, order []string, concs []int) {
	fmt.Fprintf(w, "\nlxcfs-go read benchmark: %s, kernel %s, %d CPUs, reference lxcfs %s, cgroup %s\n",
		rep.Host, rep.Kernel, rep.CPUs, rep.Reference, rep.Cgroup)
	fmt.Fprintf(w, "op = open + read(64 KiB) to EOF + close, from readers inside the cgroup; %s x %s rounds per cell\n\n",
		rep.Settings["time"], rep.Settings["rounds"])
	fmt.Fprintf(w, "%-8s %2s |", "file", "c")
	for _, tg := range order {
		fmt.Fprintf(w, " %-8s p50/p99 us  ops/s |", tg)
	}
	fmt.Fprintf(w, " ours/floor p50 | ours/ref p50  ops | ours/uring p50 | uring/classic p50  ops\n")
	for _, f := range files {
		for _, c := range concs {
			ck := "c" + strconv.Itoa(c)
			fmt.Fprintf(w, "%-8s %2d |", f.name, c)
			for _, tg := range order {
				s := rep.Results[f.name][tg][ck]
				fmt.Fprintf(w, " %7.1f/%7.1f %7.0f |", s.P50us, s.P99us, s.OpsPerS)
			}
			r := rep.Ratios[f.name][ck]
			fmt.Fprintf(w, " %14s | %12s %5s | %14s | %17s %5s\n", fmtRatio(r, "p50_ours/floor"), fmtRatio(r, "p50_ours/ref"), fmtRatio(r, "ops_ours/ref"),
				fmtRatio(r, "p50_ours/uring"), fmtRatio(r, "p50_uring/classic"), fmtRatio(r, "ops_uring/classic"))
		}
	}
	fmt.Fprintf(w, "\nserver CPU per op (us, every thread of the daemon and its helper processes, warm-up included):\n")
	fmt.Fprintf(w, "%-8s %2s |", "file", "c")
	for _, tg := range order {
		if tg != tKernel {
			fmt.Fprintf(w, " %8s", tg)
		}
	}
	fmt.Fprintf(w, " | ours/floor ours/ref ours/uring\n")
	for _, f := range files {
		for _, c := range concs {
			ck := "c" + strconv.Itoa(c)
			fmt.Fprintf(w, "%-8s %2d |", f.name, c)
			for _, tg := range order {
				if tg != tKernel {
					fmt.Fprintf(w, " %8.1f", rep.Results[f.name][tg][ck].ServerCPUus)
				}
			}
			r := rep.Ratios[f.name][ck]
			fmt.Fprintf(w, " | %10s %8s %10s\n", fmtRatio(r, "cpu_ours/floor"), fmtRatio(r, "cpu_ours/ref"), fmtRatio(r, "cpu_ours/uring"))
		}
	}
	fmt.Fprintf(w, "\nRSS after the run (KiB):")
	for _, tg := range order {
		if v, ok := rep.RSSKiB[tg]; ok {
			fmt.Fprintf(w, " %s %d", tg, v)
		}
	}
	fmt.Fprintf(w, "\n\ngoals:\n")
	for _, g := range rep.Goals {
		mark := "MET "
		if !g.Met {
			mark = "MISS"
		}
		fmt.Fprintf(w, "  %s %-36s %7.3f (limit %.3f)", mark, g.What, g.Value, g.Limit)
		if g.Floor != 0 {
			fmt.Fprintf(w, "  floor %.3f", g.Floor)
			if !g.Attainable {
				fmt.Fprintf(w, ": beyond any FUSE server here")
			}
		}
		fmt.Fprintln(w)
	}
}

func fmtRatio(r map[string]float64, k string) string {
	v, ok := r[k]
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "x"
}

// supportsLoadavg reports whether the daemon accepts -l: builds without
// per-container load averages do not list it in their help. (Starting the
// daemon on a missing mount point to see whether it refuses -l no longer
// works: the daemon now creates the mount point and serves.)
func supportsLoadavg(bin string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), "--enable-loadavg")
}

// bestOpsFloor is the highest throughput a server doing no work reached
// against the reference (over libfuse's classic loop or our io_uring loop),
// for one concurrency's ratios: a throughput goal above it is beyond what
// the transport itself allows on this machine. ok is false without a floor.
func bestOpsFloor(r map[string]float64) (best float64, ok bool) {
	for _, k := range []string{"ops_floor/ref", "ops_uring/ref"} {
		if v, has := r[k]; has {
			best, ok = max(best, v), true
		}
	}
	return best, ok
}

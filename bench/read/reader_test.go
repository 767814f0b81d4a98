package read

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/lxcfs-go/lxcfs-go/bench/internal/op"
	"github.com/lxcfs-go/lxcfs-go/bench/internal/proctree"
)

// readerSpec is what one reader process measures: every path in Paths,
// one after the other, with Threads concurrent readers each on its own
// locked OS thread. The reader runs inside the benchmark's cgroup, so each
// of its threads is the FUSE caller.
type readerSpec struct {
	Threads int
	Paths   []string
	// Servers holds, per path, the pid of the daemon serving it (0: none);
	// its CPU time over the run is reported per op.
	Servers  []int
	Warmup   time.Duration
	Duration time.Duration
}

// readerResult is one path's measurements: every op's latency in
// nanoseconds (op.Read with a 64 KiB buffer).
type readerResult struct {
	Path      string
	Latencies []int64
	Seconds   float64 // wall time of the measured interval
	Bytes     int64   // bytes of the last op
	Errors    int
	FirstErr  string `json:",omitempty"`
	// AllOps counts the ops of warm-up and run; ServerCPUNanos is the
	// serving daemon's CPU time over the same interval.
	AllOps         int64
	ServerCPUNanos int64
}

// runReader is the reader process: it prints a JSON []readerResult.
func runReader(specJSON string) int {
	var spec readerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "reader: %v\n", err)
		return 1
	}
	out := make([]readerResult, 0, len(spec.Paths))
	for i, p := range spec.Paths {
		server := 0
		if i < len(spec.Servers) {
			server = spec.Servers[i]
		}
		out = append(out, measure(p, server, spec))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "reader: %v\n", err)
		return 1
	}
	return 0
}

// cpuNanos is the CPU time of pid's threads and of its helper processes
// (see proctree), 0 if pid is 0.
func cpuNanos(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	return proctree.ThreadNanos(pid)
}

func measure(path string, server int, spec readerSpec) readerResult {
	type thread struct {
		all    int64
		lat    []int64
		bytes  int
		errs   int
		first  error
		warmed bool
	}
	threads := make([]thread, spec.Threads)
	var ready, done sync.WaitGroup
	startc := make(chan struct{})
	var t0 time.Time
	var stopAt time.Time
	ready.Add(spec.Threads)
	done.Add(spec.Threads)
	for i := range threads {
		go func(th *thread) {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			buf := make([]byte, 64<<10)
			th.lat = make([]int64, 0, 1<<14)
			ready.Done()
			<-startc
			warmEnd := t0.Add(spec.Warmup)
			for {
				s := time.Now()
				if s.After(stopAt) {
					return
				}
				n, err := op.Read(path, buf)
				d := time.Since(s)
				if err != nil {
					th.errs++
					if th.first == nil {
						th.first = err
					}
					continue
				}
				th.bytes = n
				th.all++
				if s.After(warmEnd) {
					th.lat = append(th.lat, int64(d))
				}
			}
		}(&threads[i])
	}
	ready.Wait()
	cpu0 := cpuNanos(server)
	t0 = time.Now()
	stopAt = t0.Add(spec.Warmup + spec.Duration)
	close(startc)
	done.Wait()
	r := readerResult{Path: path, Seconds: spec.Duration.Seconds()}
	if server > 0 {
		r.ServerCPUNanos = cpuNanos(server) - cpu0
	}
	for _, th := range threads {
		r.Latencies = append(r.Latencies, th.lat...)
		r.Errors += th.errs
		r.AllOps += th.all
		if th.first != nil && r.FirstErr == "" {
			r.FirstErr = th.first.Error()
		}
		r.Bytes = int64(th.bytes)
	}
	return r
}

package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// unixClient is an HTTP client for the metrics endpoint on a unix socket.
func unixClient(sock string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}
}

func httpGet(c *http.Client, path string) (int, string, error) {
	resp, err := c.Get("http://lxcfs-go" + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metricValue finds the value of the sample named exactly name (with its
// labels) in Prometheus text.
func metricValue(text, name string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestMetricsEndpoint: --metrics-addr unix:PATH serves /metrics with the
// read counters of the files read, and /healthz answers ok.
func TestMetricsEndpoint(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	d := setup(t, "--metrics-addr", "unix:"+sock)
	cg := newCgroup(t)
	cg.MemoryLimit(512 * MiB)
	readAs(t, cg, d, meminfo, meminfo, stat)
	c := unixClient(sock)
	// The mount answers reads a moment before the daemon calls itself
	// ready (its fd holder is still starting): wait for that, within
	// reason for a loaded machine.
	var code int
	var body string
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body, err = httpGet(c, "/healthz")
		if (err == nil && code == 200) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q %v", code, body, err)
	}
	code, body, err = httpGet(c, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	if v, ok := metricValue(body, `lxcfs_go_reads_total{file="meminfo"}`); !ok || v < 2 {
		t.Errorf("meminfo reads %v %v", v, ok)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", `lxcfs_go_upgrades_total{result="ok"}`,
		`lxcfs_go_fallbacks_total{reason="no_container"}`, `lxcfs_go_fallbacks_total{reason="time_namespace"}`} {
		if _, ok := metricValue(body, name); !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

// soakDuration is LXCFS_GO_SOAK_SECONDS; 0 (unset) skips TestSoak.
func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv("LXCFS_GO_SOAK_SECONDS")
	if s == "" {
		t.Skip("soak test: set LXCFS_GO_SOAK_SECONDS (make soak runs 600)")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("LXCFS_GO_SOAK_SECONDS=%q", s)
	}
	return time.Duration(n) * time.Second
}

// soakSample is the daemon's state at one moment.
type soakSample struct {
	at         time.Duration
	rssKB      uint64
	goroutines float64
	heapMiB    float64
	threads    uint64
}

func statusValue(pid int, key string) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// TestSoak: 8 readers read every file at full rate for
// LXCFS_GO_SOAK_SECONDS, each from a fresh cgroup with its own memory
// limit every few seconds (cgroups are created and removed throughout).
// Every read must show its cgroup's limit, no read may fail, and the
// daemon's RSS and goroutine count (from its metrics endpoint), sampled
// every 5 s, must stay flat after the first fifth of the run.
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	testenv.RequireMountAndCgroups(t)
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	d := setup(t, "--metrics-addr", "unix:"+sock)
	root := newCgroup(t)
	client := unixClient(sock)

	deadline := time.Now().Add(dur)
	start := time.Now()
	var reads, cgroups atomic.Int64
	var failures failureLog
	fail := failures.add
	files := []string{meminfo, cpuinfo, stat, uptime, swaps, loadavg, diskstats, online, "proc/pressure/cpu"}

	var wg sync.WaitGroup
	for r := range 8 {
		wg.Go(func() {
			for k := 0; time.Now().Before(deadline); k++ {
				limitMiB := 256 + 32*((r*7+k)%24)
				cg := root.Child(fmt.Sprintf("r%d-%d", r, k))
				cg.MemoryLimit(int64(limitMiB) * MiB)
				cgroups.Add(1)
				ops := make([]testenv.Op, len(files))
				for i, f := range files {
					ops[i] = testenv.Op{Kind: testenv.OpRead, Path: d.Path(f), Count: 25}
				}
				res, err := cg.Do(ops...)
				if err != nil {
					fail("reader %d: %v", r, err)
				} else {
					for i, rr := range res {
						if err := rr.Error(); err != nil {
							fail("reader %d: %s: %v", r, files[i], err)
							continue
						}
						for _, data := range rr.Data {
							reads.Add(1)
							if files[i] != meminfo {
								continue
							}
							m, err := parseMeminfo(string(data))
							if err != nil {
								fail("reader %d: %v", r, err)
							} else if got, _ := m.lookup("MemTotal"); got != uint64(limitMiB)*1024 {
								fail("reader %d: MemTotal %d kB, want %d", r, got, limitMiB*1024)
							}
						}
					}
				}
				for _, f := range cg.ProcsFiles() {
					if err := unix.Rmdir(filepath.Dir(f)); err != nil {
						fail("removing %s: %v", filepath.Dir(f), err)
					}
				}
			}
		})
	}

	var samples []soakSample
	sample := func() {
		s := soakSample{at: time.Since(start), rssKB: statusValue(d.PID, "VmRSS"), threads: statusValue(d.PID, "Threads")}
		if _, body, err := httpGet(client, "/metrics"); err == nil {
			s.goroutines, _ = metricValue(body, "go_goroutines")
			heap, _ := metricValue(body, "go_memstats_heap_inuse_bytes")
			s.heapMiB = heap / (1 << 20)
		} else {
			fail("metrics: %v", err)
		}
		samples = append(samples, s)
	}
	tick := time.NewTicker(5 * time.Second)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	sample()
loop:
	for {
		select {
		case <-tick.C:
			sample()
		case <-done:
			break loop
		}
	}
	tick.Stop()
	sample()

	for _, s := range samples {
		t.Logf("t=%4.0fs rss=%6d kB heap=%5.1f MiB goroutines=%4.0f threads=%d", s.at.Seconds(), s.rssKB, s.heapMiB, s.goroutines, s.threads)
	}
	// LXCFS_GO_SOAK_PROFILE=DIR keeps the daemon's heap profile at the end
	// of the run (go tool pprof DIR/heap.pb.gz) for whoever chases a leak.
	if dir := os.Getenv("LXCFS_GO_SOAK_PROFILE"); dir != "" {
		if _, body, err := httpGet(client, "/debug/pprof/heap"); err != nil {
			t.Errorf("heap profile: %v", err)
		} else if err := os.WriteFile(filepath.Join(dir, "heap.pb.gz"), []byte(body), 0o644); err != nil {
			t.Errorf("heap profile: %v", err)
		}
	}
	t.Logf("%d reads, %d cgroups, %d failures in %v", reads.Load(), cgroups.Load(), failures.count(), dur)
	failures.report(t)
	if d.Exited() {
		t.Fatalf("daemon exited: %v", d.ExitErr())
	}
	// Flat: after warm-up (the first fifth), neither RSS nor goroutines
	// grow by more than a margin over the warm-up's maximum.
	warm := samples[:max(1, len(samples)/5)]
	var warmRSS uint64
	var warmG float64
	for _, s := range warm {
		warmRSS = max(warmRSS, s.rssKB)
		warmG = max(warmG, s.goroutines)
	}
	// A slow leak stays under any margin over the warm-up for a while, so
	// the trend is checked too: the last fifth may not exceed the second
	// fifth by more than 10% plus 4 MiB.
	if n := len(samples); n >= 10 {
		second, last := maxRSS(samples[n/5:2*n/5]), maxRSS(samples[4*n/5:])
		if last > second*11/10+4*1024 {
			t.Errorf("RSS keeps growing: %d kB in the second fifth of the run, %d kB in the last", second, last)
		}
	}
	for _, s := range samples[len(warm):] {
		if s.rssKB > warmRSS*3/2+32*1024 {
			t.Errorf("t=%v: RSS %d kB, warm-up max %d kB", s.at, s.rssKB, warmRSS)
		}
		if s.goroutines > warmG*2+64 {
			t.Errorf("t=%v: %v goroutines, warm-up max %v", s.at, s.goroutines, warmG)
		}
	}
}

func maxRSS(samples []soakSample) uint64 {
	var m uint64
	for _, s := range samples {
		m = max(m, s.rssKB)
	}
	return m
}

package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/fallback"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// fakeContent renders "x\n", or fails with err.
type fakeContent struct{ err error }

func (f *fakeContent) Render(dst []byte, _ vfiles.File, _ int) ([]byte, error) {
	if f.err != nil {
		return dst, f.err
	}
	return append(dst, "x\n"...), nil
}
func (f *fakeContent) CPUView(int) (proc.CPUView, error) { return proc.CPUView{Host: []int{0}}, nil }
func (f *fakeContent) SizeHint(vfiles.File) uint64       { return 4096 }

func TestInstrument(t *testing.T) {
	t.Parallel()
	m := New()
	ok := m.Instrument(&fakeContent{})
	for range 3 {
		if b, err := ok.Render(nil, vfiles.Meminfo, 1); err != nil || string(b) != "x\n" {
			t.Fatalf("Render = %q, %v", b, err)
		}
	}
	if got := ok.SizeHint(vfiles.Meminfo); got != 4096 {
		t.Errorf("SizeHint passes through as %d", got)
	}
	gone := m.Instrument(&fakeContent{err: fmt.Errorf("x: %w", content.ErrCallerGone)})
	gone.Render(nil, vfiles.Stat, 1)
	eio := m.Instrument(&fakeContent{err: fmt.Errorf("y: %w", syscall.EIO)})
	eio.Render(nil, vfiles.Stat, 1)

	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.reads.WithLabelValues("meminfo")), 3, "meminfo reads"},
		{testutil.ToFloat64(m.reads.WithLabelValues("stat")), 2, "stat reads"},
		{testutil.ToFloat64(m.errors.WithLabelValues("stat", "caller_gone")), 1, "caller_gone errors"},
		{testutil.ToFloat64(m.errors.WithLabelValues("stat", "eio")), 1, "eio errors"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.latency); n != 2 {
		t.Errorf("%d latency series, want 2", n)
	}
}

// brokenSource is a content.Source over a copy of the broken fixture tree
// (cgroup files that are garbage, gone or unreachable) with a host's
// files, whose fallbacks m counts and whose records go to h.
func brokenSource(t testing.TB, m *Metrics, h slog.Handler) *content.Source {
	t.Helper()
	root := t.TempDir()
	copyTree(t, "../hostcgroup/testdata/broken", root)
	copyTree(t, "../proc/testdata/golden/cpuset-4cpu/host", root)
	src, err := content.New(content.Options{
		ProcFS: root + "/proc", SysFS: root + "/sys", MountPrefix: root,
		// The quota is read (and can fall back) only under --enable-cfs.
		Render:     proc.Options{CFS: true},
		Logger:     slog.New(h),
		OnFallback: m.Fallback,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src
}

// records counts the records that reach it at level and above.
type records struct {
	level slog.Level
	n     atomic.Int64
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *records) Handle(context.Context, slog.Record) error    { r.n.Add(1); return nil }
func (r *records) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *records) WithGroup(string) slog.Handler                { return r }

// TestFallbacks renders files for processes of the broken fixture tree
// through a real content.Source: each value served from the host is
// counted under its typed reason, whatever the log level. With debug off
// no log record is built at all; with debug on each fallback is one
// record, as before the counter existed.
func TestFallbacks(t *testing.T) {
	t.Parallel()
	want := map[fallback.Reason]float64{
		fallback.Memory: 1, fallback.CPUSet: 1, fallback.CPUUsage: 1, fallback.CPUQuota: 1,
		fallback.Swap: 1, fallback.Swappiness: 1, fallback.CgroupRemoved: 1, fallback.NoContainer: 1,
	}
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		m := New()
		h := &records{level: level}
		src := brokenSource(t, m, h)
		h.n.Store(0) // New logs the cgroup layout at debug level
		for pid, f := range map[int]vfiles.File{
			7001: vfiles.Meminfo, // memory.limit_in_bytes "lots"
			7003: vfiles.CPUInfo, // cpuset "0-x"
			7004: vfiles.Stat,    // cpuacct.usage_all garbage
			7007: vfiles.Meminfo, // empty swappiness, memsw limit "garbage"
			7008: vfiles.CPUInfo, // cpu.cfs_quota_us "fast"
			7009: vfiles.Meminfo, // cgroup2 path "(deleted)"
			7010: vfiles.Meminfo, // /proc/7010/cgroup is garbage
		} {
			if _, err := src.RenderOwn(nil, f, pid); err != nil {
				t.Fatalf("pid %d: %v", pid, err)
			}
		}
		var total float64
		for _, r := range fallback.Reasons() {
			got := testutil.ToFloat64(m.fallbacks.WithLabelValues(r.String()))
			if got != want[r] {
				t.Errorf("%v: fallbacks{reason=%q} = %v, want %v", level, r, got, want[r])
			}
			total += got
		}
		wantRecords := int64(total)
		if level > slog.LevelDebug {
			wantRecords = 0
		}
		if got := h.n.Load(); got != wantRecords {
			t.Errorf("%v: %d records handled for %v fallbacks, want %d", level, got, total, wantRecords)
		}
	}
}

// TestFallbackZeros: every reason is exported from the start, under a
// label of its own (rate() needs the zero; dashboards need the labels).
func TestFallbackZeros(t *testing.T) {
	t.Parallel()
	m := New()
	if n, want := testutil.CollectAndCount(m.fallbacks), len(fallback.Reasons()); n != want {
		t.Errorf("%d fallback series, want one per reason (%d)", n, want)
	}
	m.Fallback(fallback.Slabinfo)
	m.Fallback(fallback.Reason(200)) // a reason newer than this counter
	want := `
# HELP lxcfs_go_fallbacks_total Values served from the host because the container's could not be computed, by reason.
# TYPE lxcfs_go_fallbacks_total counter
`
	for _, r := range fallback.Reasons() {
		n := 0
		if r == fallback.Slabinfo {
			n = 1
		}
		want += fmt.Sprintf("lxcfs_go_fallbacks_total{reason=%q} %d\n", r, n)
	}
	want += "lxcfs_go_fallbacks_total{reason=\"reason_200\"} 1\n"
	if err := testutil.CollectAndCompare(m.fallbacks, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// BenchmarkFallback renders a file whose memory falls back, with the
// counter on and debug logging off: no record may be built on this path.
func BenchmarkFallback(b *testing.B) {
	m := New()
	h := &records{level: slog.LevelInfo}
	src := brokenSource(b, m, h)
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = src.RenderOwn(buf[:0], vfiles.Meminfo, 7001); err != nil {
			b.Fatal(err)
		}
	}
	if h.n.Load() != 0 || testutil.ToFloat64(m.fallbackBy[fallback.Memory]) == 0 {
		b.Errorf("%d records, %v fallbacks", h.n.Load(), testutil.ToFloat64(m.fallbackBy[fallback.Memory]))
	}
}

// copyTree copies the fixture tree from into to (os.CopyFS: no file of
// one tree may be in the other).
func copyTree(t testing.TB, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpointTCP(t *testing.T) {
	t.Parallel()
	m := New()
	m.Instrument(&fakeContent{}).Render(nil, vfiles.Uptime, 1)
	m.Upgrade(true)
	m.SetTrackedContainers(3)
	var healthErr error
	s, err := Listen("127.0.0.1:0", m.Handler(func() error { return healthErr }), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	code, body := get(t, http.DefaultClient, base+"/metrics")
	for _, w := range []string{
		`lxcfs_go_reads_total{file="uptime"} 1`,
		`lxcfs_go_render_seconds_bucket{file="uptime",le=`,
		`lxcfs_go_upgrades_total{result="ok"} 1`,
		`lxcfs_go_tracked_containers 3`,
		`lxcfs_go_fallbacks_total{reason="memory"} 0`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics (%d) lacks %q", code, w)
		}
	}
	if code, body := get(t, http.DefaultClient, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	healthErr = errors.New("mount gone")
	if code, body := get(t, http.DefaultClient, base+"/healthz"); code != 503 || !strings.Contains(body, "mount gone") {
		t.Errorf("unhealthy /healthz = %d %q", code, body)
	}
	if code, _ := get(t, http.DefaultClient, base+"/livez"); code != 200 {
		t.Errorf("/livez = %d", code)
	}
}

func TestEndpointUnix(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "m.sock")
	// A stale socket of an earlier instance is replaced.
	old, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	old.Close()
	m := New()
	s, err := Listen("unix:"+sock, m.Handler(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	if code, body := get(t, c, "http://x/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	s.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
}

func TestListenErrors(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"unix:", "no-port", "127.0.0.1:notaport"} {
		if s, err := Listen(addr, New().Handler(nil), nil); err == nil {
			s.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
}

// TestTakeover: a successor binds the same address while its predecessor
// still serves (an in-place upgrade); the predecessor's Close leaves the
// successor's endpoint working.
func TestTakeover(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "m.sock")
	for _, addr := range []string{"unix:" + sock, "127.0.0.1:0"} {
		old, err := Listen(addr, New().Handler(nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(addr, "unix:") {
			addr = old.Addr()
		}
		succ, err := Listen(addr, New().Handler(nil), nil)
		if err != nil {
			t.Fatalf("%s: successor: %v", addr, err)
		}
		old.Close()
		c := http.DefaultClient
		url := "http://" + succ.Addr() + "/healthz"
		if strings.HasPrefix(addr, "unix:") {
			c = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			}}}
			url = "http://x/healthz"
		}
		if code, _ := get(t, c, url); code != 200 {
			t.Errorf("%s: successor answers %d", addr, code)
		}
		succ.Close()
	}
}

func TestTrackedContainers(t *testing.T) {
	t.Parallel()
	m := New()
	m.SetTrackedContainers(4)
	if got := testutil.ToFloat64(m.tracked); got != 4 {
		t.Errorf("tracked = %v", got)
	}
	m.TrackContainers(func() int { return 7 })
	if got := testutil.ToFloat64(m.tracked); got != 7 {
		t.Errorf("tracked = %v", got)
	}
	m.ObserveSamplerTick(3 * time.Millisecond)
	if n := testutil.CollectAndCount(m.tick); n != 1 {
		t.Errorf("%d tick series", n)
	}
}

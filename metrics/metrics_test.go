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
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// fakeContent renders "x\n", or fails with err.
type fakeContent struct{ err error }

func (f *fakeContent) Render(dst []byte, _ content.File, _ int) ([]byte, error) {
	if f.err != nil {
		return dst, f.err
	}
	return append(dst, "x\n"...), nil
}
func (f *fakeContent) CPUView(int) (proc.CPUView, error) { return proc.CPUView{Host: []int{0}}, nil }
func (f *fakeContent) SizeHint(content.File) uint64      { return 4096 }

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

// TestFallbackMessages renders files for processes of the broken fixture
// tree through a real content.Source: the debug messages it logs when a
// value falls back to the host's must be counted, with the log level of
// the wrapped handler unchanged.
func TestFallbackMessages(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	copyTree(t, "../cgroupview/testdata/broken", root)
	copyTree(t, "../proc/testdata/golden/cpuset-4cpu/host", root)
	m := New()
	var logged strings.Builder
	inner := slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo})
	src, err := content.New(content.Options{
		ProcFS: root + "/proc", SysFS: root + "/sys", MountPrefix: root,
		// The quota is read (and can fall back) only under --enable-cfs.
		Render: proc.Options{CFS: true},
		Logger: slog.New(m.LogHandler(inner)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for pid, f := range map[int]content.File{
		7001: vfiles.Meminfo, // memory.limit_in_bytes "lots"
		7003: vfiles.CPUInfo, // cpuset "0-x"
		7004: vfiles.Stat,    // cpuacct.usage_all garbage
		7008: vfiles.CPUInfo, // cpu.cfs_quota_us "fast"
	} {
		if _, err := src.RenderOwn(nil, f, pid); err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
	}
	for reason, want := range map[string]float64{"memory": 1, "cpuset": 1, "cpu_usage": 1, "cpu_quota": 1} {
		if got := testutil.ToFloat64(m.fallbacks.WithLabelValues(reason)); got != want {
			t.Errorf("fallbacks{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if logged.Len() != 0 {
		t.Errorf("debug records reached an info-level handler: %s", logged.String())
	}
}

// copyTree copies the fixture tree from into to (os.CopyFS: no file of
// one tree may be in the other).
func copyTree(t *testing.T, from, to string) {
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

// TestEveryFallbackMessage: every debug message of content and cgroupview
// that announces a host fallback ("... unavailable", "... serving the host
// file", a removed or unreachable cgroup) has a reason label.
func TestEveryFallbackMessage(t *testing.T) {
	t.Parallel()
	var files []string
	for _, dir := range []string{"../content", "../cgroupview"} {
		m, _ := filepath.Glob(dir + "/*.go")
		files = append(files, m...)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			_, rest, ok := strings.Cut(line, `.Debug("`)
			if !ok {
				continue
			}
			msg, _, _ := strings.Cut(rest, `"`)
			if !strings.Contains(msg, "unavailable") && !strings.Contains(msg, "host file") &&
				!strings.Contains(msg, "removed") && !strings.Contains(msg, "outside") {
				continue
			}
			if _, ok := fallbackMessages[msg]; !ok {
				t.Errorf("%s: fallback message %q has no reason in fallbackMessages", name, msg)
			}
		}
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

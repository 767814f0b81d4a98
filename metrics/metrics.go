package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/fallback"
	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// Metrics holds the daemon's collectors. It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	reads     *prometheus.CounterVec
	errors    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	fallbacks *prometheus.CounterVec
	// fallbackBy is fallbacks' counter of each reason, indexed by it, so
	// that counting on the read path looks up no labels.
	fallbackBy []prometheus.Counter
	tracked    prometheus.GaugeFunc
	trackedN   atomic.Int64
	trackedFn  atomic.Pointer[func() int]
	tick       prometheus.Histogram
	upgrades   *prometheus.CounterVec
}

// New creates the collectors in a registry of their own.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lxcfs_go_reads_total",
		Help: "Virtual files rendered (reads at offset 0), by file.",
	}, []string{"file"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lxcfs_go_read_errors_total",
		Help: "Renders that failed, by file and error (caller_gone, an errno name, or other).",
	}, []string{"file", "error"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lxcfs_go_render_seconds",
		Help:    "Time to render a virtual file for a caller, by file.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 4, 9), // 10µs .. 0.65s
	}, []string{"file"})
	m.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lxcfs_go_fallbacks_total",
		Help: "Values served from the host because the container's could not be computed, by reason.",
	}, []string{"reason"})
	m.tracked = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "lxcfs_go_tracked_containers",
		Help: "Containers the loadavg sampler tracks.",
	}, func() float64 {
		if f := m.trackedFn.Load(); f != nil {
			return float64((*f)())
		}
		return float64(m.trackedN.Load())
	})
	m.tick = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "lxcfs_go_sampler_tick_seconds",
		Help:    "Duration of one loadavg sampler tick.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 4, 9),
	})
	m.upgrades = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lxcfs_go_upgrades_total",
		Help: "In-place upgrades (SIGUSR1) attempted, by result.",
	}, []string{"result"})
	for _, r := range fallback.Reasons() {
		// Created now, so zeros are exported and rate() works from the start.
		m.fallbackBy = append(m.fallbackBy, m.fallbacks.WithLabelValues(r.String()))
	}
	m.upgrades.WithLabelValues("ok")
	m.upgrades.WithLabelValues("failed")
	m.reg.MustRegister(m.reads, m.errors, m.latency, m.fallbacks, m.tracked, m.tick, m.upgrades,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the collectors are registered; tests gather from it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetTrackedContainers records how many containers the loadavg sampler
// tracks.
func (m *Metrics) SetTrackedContainers(n int) { m.trackedN.Store(int64(n)) }

// TrackContainers makes every scrape ask f for the number of tracked
// containers (the sampler's Len), instead of SetTrackedContainers.
func (m *Metrics) TrackContainers(f func() int) { m.trackedFn.Store(&f) }

// ObserveSamplerTick records the duration of one sampler tick.
func (m *Metrics) ObserveSamplerTick(d time.Duration) { m.tick.Observe(d.Seconds()) }

// Upgrade counts an in-place upgrade.
func (m *Metrics) Upgrade(ok bool) {
	if ok {
		m.upgrades.WithLabelValues("ok").Inc()
	} else {
		m.upgrades.WithLabelValues("failed").Inc()
	}
}

// Fallback counts a value served from the host for reason r. It is the
// OnFallback of content.Options.
func (m *Metrics) Fallback(r fallback.Reason) {
	if int(r) < len(m.fallbackBy) {
		m.fallbackBy[r].Inc()
		return
	}
	m.fallbacks.WithLabelValues(r.String()).Inc()
}

// Instrument wraps c: every Render is counted and timed. Other methods of
// fs.Content pass through (the interface is embedded, so methods added to
// it later pass through too).
func (m *Metrics) Instrument(c fs.Content) fs.Content {
	return &instrumented{Content: c, m: m}
}

type instrumented struct {
	fs.Content
	m *Metrics
}

var _ fs.Content = (*instrumented)(nil)

func (i *instrumented) Render(dst []byte, f vfiles.File, tid int) ([]byte, error) {
	start := time.Now()
	out, err := i.Content.Render(dst, f, tid)
	name := f.String()
	i.m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	i.m.reads.WithLabelValues(name).Inc()
	if err != nil {
		i.m.errors.WithLabelValues(name, errorClass(err)).Inc()
	}
	return out, err
}

// errorClass keeps the error label to a small set.
func errorClass(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, content.ErrCallerGone):
		return "caller_gone"
	case errors.As(err, &errno):
		return strings.ToLower(errnoName(errno))
	case errors.Is(err, os.ErrNotExist):
		return "enoent"
	case errors.Is(err, os.ErrPermission):
		return "eacces"
	}
	return "other"
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EIO:
		return "EIO"
	case syscall.ESRCH:
		return "ESRCH"
	case syscall.EMFILE:
		return "EMFILE"
	case syscall.ENFILE:
		return "ENFILE"
	case syscall.ENOMEM:
		return "ENOMEM"
	case syscall.EINVAL:
		return "EINVAL"
	}
	return "errno"
}

// Handler serves /metrics and /healthz. health reports whether the daemon
// serves; nil counts as healthy. /healthz answers 200 "ok" or 503 with the
// error.
func (m *Metrics) Handler(health func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	hz := func(w http.ResponseWriter, r *http.Request) {
		if health != nil {
			if err := health(); err != nil {
				http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	}
	mux.HandleFunc("/healthz", hz)
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", hz)
	// The endpoint is meant for loopback or a unix socket (Listen warns
	// otherwise), so the Go profiler
	// is served too: heap and goroutine profiles of a daemon that behaves
	// oddly in production are the first thing a bug report needs.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Server is a running metrics endpoint.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	unix    string
	unixIno uint64 // inode of the socket we bound, so Close removes only ours
	once    sync.Once
	err     error
}

// Addr is the address listened on ("127.0.0.1:9100", "/run/x.sock").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Listen parses addr ("HOST:PORT", or "unix:/path") and serves h on it in
// the background. An address that is not loopback is served but logged as
// a warning: the endpoint has no authentication.
//
// An in-place upgrade starts the successor while its predecessor still
// listens: a TCP port is bound with SO_REUSEPORT so that both can hold it
// for that moment, and a unix socket path is taken over (unlinked and
// bound again; the predecessor's Close then leaves the new socket alone).
// The socket is mode 0660.
func Listen(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return nil, errors.New("metrics: empty unix socket path")
		}
		if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
			os.Remove(path)
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		s.ln = ln
		os.Chmod(path, 0o660)
		s.unix = path
		var st syscall.Stat_t
		if syscall.Stat(path, &st) == nil {
			s.unixIno = st.Ino
		}
	} else {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("metrics: address %q: want HOST:PORT or unix:/path: %w", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			logger.Warn("metrics endpoint is not on a loopback address; it has no authentication", "addr", addr)
		}
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		s.ln = ln
	}
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint stopped", "err", err)
		}
	}()
	return s, nil
}

// soReusePort is SO_REUSEPORT (15 on every Linux architecture but a few
// the daemon does not build for), spelled out because package syscall
// lacks it.
const soReusePort = 0xf

// Close stops the endpoint and removes its unix socket unless a successor
// has bound the path since.
func (s *Server) Close() error {
	s.once.Do(func() {
		// Close the listening socket now: Shutdown closes only the
		// listeners Serve has registered, and Serve's goroutine may not
		// have run yet; until the socket is closed, the kernel can hand it
		// connections meant for a successor on the same port.
		s.ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); !errors.Is(err, net.ErrClosed) {
			s.err = err
		}
		var st syscall.Stat_t
		if s.unix != "" && syscall.Stat(s.unix, &st) == nil && st.Ino == s.unixIno {
			os.Remove(s.unix)
		}
	})
	return s.err
}

package main

import (
	"errors"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/fallback"
	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/metrics"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// daemonMetrics is the --metrics-addr endpoint of a running daemon. A nil
// *daemonMetrics (no --metrics-addr) does nothing, so serve() calls its
// methods unconditionally.
type daemonMetrics struct {
	m       *metrics.Metrics
	srv     *metrics.Server
	mounted atomic.Bool
	src     atomic.Pointer[content.Source]
}

// startMetrics starts the endpoint when o.metricsAddr is set. /healthz
// fails until mounted is called, then renders meminfo for the daemon
// itself (the cgroup readers work) on every probe.
func startMetrics(o *options, logger *slog.Logger) (*daemonMetrics, error) {
	if o.metricsAddr == "" {
		return nil, nil
	}
	d := &daemonMetrics{m: metrics.New()}
	srv, err := metrics.Listen(o.metricsAddr, d.m.Handler(d.health), logger)
	if err != nil {
		return nil, err
	}
	d.srv = srv
	logger.Info("metrics endpoint", "addr", srv.Addr())
	return d, nil
}

func (d *daemonMetrics) health() error {
	src := d.src.Load()
	if !d.mounted.Load() || src == nil {
		return errors.New("not mounted yet")
	}
	_, err := src.Render(nil, vfiles.Meminfo, os.Getpid())
	return err
}

// onFallback is the OnFallback to give content.New: it counts each value
// served from the host by its reason. nil without --metrics-addr.
func (d *daemonMetrics) onFallback() func(fallback.Reason) {
	if d == nil {
		return nil
	}
	return d.m.Fallback
}

// instrument wraps what fs.New renders through.
func (d *daemonMetrics) instrument(src *content.Source) fs.Content {
	if d == nil {
		return src
	}
	d.src.Store(src)
	if l := src.Loadavg(); l != nil {
		d.m.TrackContainers(l.Len)
		l.ObserveTicks(d.m.ObserveSamplerTick)
	}
	return d.m.Instrument(src)
}

// ready marks the mount as serving, for /healthz; takenOver says this
// process is the successor of an in-place upgrade, which counts it as a
// successful upgrade (the predecessor exits without a chance to export it).
func (d *daemonMetrics) ready(takenOver bool) {
	if d != nil {
		d.mounted.Store(true)
		if takenOver {
			d.m.Upgrade(true)
		}
	}
}

// upgraded counts an in-place upgrade that failed (ok false: the SIGUSR1
// handler) or succeeded.
func (d *daemonMetrics) upgraded(ok bool) {
	if d != nil {
		d.m.Upgrade(ok)
	}
}

// metrics is the collector set, nil without --metrics-addr (for the
// loadavg sampler's SetTrackedContainers and ObserveSamplerTick).
func (d *daemonMetrics) metrics() *metrics.Metrics {
	if d == nil {
		return nil
	}
	return d.m
}

func (d *daemonMetrics) close() {
	if d != nil {
		d.srv.Close()
	}
}

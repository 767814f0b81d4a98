package main

import (
	"log/slog"
	"path/filepath"
	"testing"
)

func TestMetricsFlag(t *testing.T) {
	o, err := parseArgs([]string{"--metrics-addr", "unix:/run/m.sock", "/m"})
	if err != nil || o.metricsAddr != "unix:/run/m.sock" {
		t.Fatalf("parseArgs: %+v, %v", o, err)
	}
	o, err = parseArgs([]string{"--metrics-addr=127.0.0.1:9120", "/m"})
	if err != nil || o.metricsAddr != "127.0.0.1:9120" {
		t.Fatalf("parseArgs: %+v, %v", o, err)
	}
}

// TestMetricsOff: without --metrics-addr every hook is a no-op on a nil
// *daemonMetrics.
func TestMetricsOff(t *testing.T) {
	d, err := startMetrics(&options{}, slog.New(slog.DiscardHandler))
	if err != nil || d != nil {
		t.Fatalf("startMetrics without an address: %v, %v", d, err)
	}
	if d.onFallback() != nil || d.metrics() != nil {
		t.Error("nil daemonMetrics changed something")
	}
	d.ready(true)
	d.upgraded(true)
	d.close()
}

func TestMetricsOn(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "m.sock")
	d, err := startMetrics(&options{metricsAddr: "unix:" + sock}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if err := d.health(); err == nil {
		t.Error("healthy before mounting")
	}
	d.upgraded(false)
	if d.metrics() == nil || d.onFallback() == nil {
		t.Error("no metrics")
	}
}

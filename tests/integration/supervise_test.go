package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestHolderRestartsCrashedDaemon is the crash sequence of a daemon started
// by hand, with no systemd to restart it: under readers (one through a bind
// mount, as a container reads), and with ls, df and stat of the mount point
// running all the while in a loop, the daemon is SIGKILLed, upgraded in
// place three times, and SIGKILLed again. The fd holder starts the daemon
// again itself each time; no read and no command fails, and the mount is
// the same one at the end.
func TestHolderRestartsCrashedDaemon(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	d := testenv.StartLiveDaemon(t, nil)
	id0, dev0, _ := testenv.MountInfo(d.Mnt)
	bind := bindMount(t, d.Path(meminfo))
	load := startLoad(t, d.Mnt, readableFiles(t, d.Mnt), bind)
	probe := startMountpointProbes(d.Mnt)

	crash := func(n int) {
		time.Sleep(300 * time.Millisecond)
		old := d.PID()
		d.Kill()
		start := time.Now()
		pid, err := d.WaitRestarted(old, 10*time.Second)
		if err != nil {
			t.Fatalf("crash %d: %v", n, err)
		}
		gap := time.Since(start)
		t.Logf("crash %d: daemon %d killed; the holder's restart %d serves after %v", n, old, pid, gap.Round(time.Millisecond))
		if gap > 2*time.Second {
			t.Errorf("crash %d: served again after %v, want under 2s", n, gap)
		}
	}
	crash(1)
	for i := range 3 {
		time.Sleep(300 * time.Millisecond)
		if _, err := d.Upgrade(20 * time.Second); err != nil {
			t.Fatalf("upgrade %d: %v", i+1, err)
		}
	}
	crash(2)
	time.Sleep(300 * time.Millisecond)

	runs, failures := probe.stop()
	t.Logf("ls, df and stat of the mount point: %d runs", runs)
	if runs == 0 {
		t.Error("the mount point probes never ran")
	}
	for _, f := range failures {
		t.Errorf("mount point probe: %s", f)
	}
	load.stop().report(t)
	if id, dev, ok := testenv.MountInfo(d.Mnt); !ok || id != id0 || dev != dev0 {
		t.Errorf("at the end the mount is %d %s (mounted %v), was %d %s", id, dev, ok, id0, dev0)
	}
	if got := strings.Count(d.Log(), "restarted the daemon"); got != 2 {
		t.Errorf("the holder logged %d restarts, want 2 (one per crash, none for the upgrades)", got)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
}

// TestHolderCrashLoop: a daemon that keeps dying at start (its binary
// replaced by one that exits 1) is restarted with a growing pause, and once
// no daemon has served for the holder's grace period the connection is let
// go: reads end with a clear error after a bounded time rather than waiting
// for ever.
func TestHolderCrashLoop(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	t.Parallel()
	d := testenv.StartLiveDaemon(t, []string{"LXCFS_GO_HOLDER_GRACE=2s"})
	holders := d.Processes()
	// Settled: it has served for longer than the holder's settle time.
	time.Sleep(2500 * time.Millisecond)
	d.WriteBinary("#!/bin/sh\necho crashing at start >&2\nexit 1\n")
	d.Kill()
	start := time.Now()
	_, err := readFileErr(d.Path(meminfo))
	took := time.Since(start)
	t.Logf("read during the crash loop: %v after %v", err, took.Round(time.Millisecond))
	if err == nil || !(strings.Contains(err.Error(), "not connected") || strings.Contains(err.Error(), "connection abort")) {
		t.Errorf("read while the daemon crash-loops: %v, want ENOTCONN or ECONNABORTED", err)
	}
	// The grace (2s) and the holder's half-second look bound the wait.
	if took > 5*time.Second {
		t.Errorf("the read waited %v; the grace is 2s", took)
	}
	if n := strings.Count(d.Log(), "crashing at start"); n < 2 {
		t.Errorf("the holder started the broken binary %d times, want a few restarts", n)
	}
	// The read fails as the holder's fd closes, while it exits: give the
	// exit a moment to finish.
	for _, pid := range holders {
		for i := 0; testenv.Alive(pid) && i < 200; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if testenv.Alive(pid) {
			t.Errorf("process %d still runs 2 s after the grace period", pid)
		}
	}
}

// mountpointProbes run ls, df and stat of a mount point in a loop, as an
// admin or a monitoring agent would, each bounded in time.
type mountpointProbes struct {
	stopc    chan struct{}
	wg       sync.WaitGroup
	runs     atomic.Int64
	mu       sync.Mutex
	failures []string
}

func startMountpointProbes(mnt string) *mountpointProbes {
	p := &mountpointProbes{stopc: make(chan struct{})}
	for _, argv := range [][]string{{"ls", mnt}, {"df", mnt}, {"stat", mnt}} {
		p.wg.Go(func() {
			for {
				select {
				case <-p.stopc:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
				cancel()
				p.runs.Add(1)
				if err != nil {
					p.mu.Lock()
					p.failures = append(p.failures, fmt.Sprintf("%s after %v: %v: %s",
						strings.Join(argv, " "), time.Since(start).Round(time.Millisecond), err, strings.TrimSpace(string(out))))
					p.mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return p
}

func (p *mountpointProbes) stop() (int64, []string) {
	close(p.stopc)
	p.wg.Wait()
	return p.runs.Load(), p.failures
}

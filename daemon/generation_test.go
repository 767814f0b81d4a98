package daemon

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// syncBuffer is a log destination tests read while the daemon writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testOptions are Options for a generation on a fresh directory, logging
// to log.
func testOptions(t *testing.T, holder HolderMode, log *syncBuffer) Options {
	dir := t.TempDir()
	return Options{
		Mountpoint: filepath.Join(dir, "mnt"),
		Pidfile:    filepath.Join(dir, "lxcfs.pid"),
		Holder:     holder,
		Exe:        os.Args[0],
		NewFS:      func(epoch uint16) FileSystem { return newFS(epoch) },
		Logger:     slog.New(slog.NewTextHandler(log, nil)),
	}
}

func TestServerOptions(t *testing.T) {
	for _, c := range []struct {
		uring   fs.URingMode
		holder  HolderMode
		fdstore bool
		want    fs.URingMode
		why     string
	}{
		{"", HolderProcess, false, fs.URingOff, "fd holder"},
		{fs.URingAuto, HolderKeeper, false, fs.URingOff, "fd holder"},
		{fs.URingAuto, HolderNone, false, fs.URingAuto, ""},
		// Under systemd with no holder, the fd store keeps the connection
		// across a crash, and a ring would not survive it.
		{fs.URingAuto, HolderNone, true, fs.URingOff, "fd store"},
		{fs.URingOn, HolderProcess, false, fs.URingOn, ""},
		{fs.URingOn, HolderNone, true, fs.URingOn, ""},
		{fs.URingOff, HolderNone, false, fs.URingOff, ""},
	} {
		o := Options{URing: c.uring, Holder: c.holder}
		if c.fdstore {
			o.Notify = Notifier{Socket: "/run/systemd/notify"}
		}
		so := serverOptions(o)
		if so.URing != c.want {
			t.Errorf("--fuse-uring=%q with holder %d, fd store %v: %q, want %q", c.uring, c.holder, c.fdstore, so.URing, c.want)
		}
		if c.why != "" && !strings.Contains(so.URingOffWhy, c.why) {
			t.Errorf("--fuse-uring=%q with holder %d, fd store %v: reason %q, want it to name the %s", c.uring, c.holder, c.fdstore, so.URingOffWhy, c.why)
		}
	}
}

// TestNoKeeper: a daemon in keeper mode waits for its keeper, and fails
// with ErrNoKeeper when none answers, or at once on a signal.
func TestNoKeeper(t *testing.T) {
	var log syncBuffer
	o := testOptions(t, HolderKeeper, &log)
	o.KeeperWait = 300 * time.Millisecond
	if _, err := Start(o); !errors.Is(err, ErrNoKeeper) {
		t.Fatalf("Start without a keeper: %v, want ErrNoKeeper", err)
	}
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	o.KeeperWait, o.Interrupt = time.Minute, sigs
	start := time.Now()
	if _, err := Start(o); err == nil || !strings.Contains(err.Error(), "while waiting for the fd keeper") {
		t.Fatalf("Start interrupted while waiting: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the signal ended the wait after %v", d)
	}
}

// TestStartFresh: with nobody keeping a connection, Start mounts, tells
// Mounted the mount's device, serves; Stop unmounts.
func TestStartFresh(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	var log syncBuffer
	o := testOptions(t, HolderNone, &log)
	var mounted string
	o.Mounted = func(dev string) { mounted = dev }
	g, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	mid, ok := LookupMount(o.Mountpoint)
	if !ok || mounted != mid.Dev {
		t.Errorf("Mounted got %q, mountinfo says %q (mounted %v)", mounted, mid.Dev, ok)
	}
	if b, err := os.ReadFile(filepath.Join(o.Mountpoint, "proc/uptime")); err != nil || !strings.Contains(string(b), "file uptime") {
		t.Errorf("read: %q %v", b, err)
	}
	if err := g.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, ok := LookupMount(o.Mountpoint); ok {
		Unmount(o.Mountpoint)
		t.Fatal("still mounted after Stop")
	}
}

// TestResumeFromHolder: a generation mounts and starts an fd holder (this
// test binary, see TestMain); it dies without saying it leaves, and the
// next generation gets the connection, the INIT request and the node
// table from the holder and serves the same mount, with the next handle
// epoch. Stop releases the holder and unmounts.
func TestResumeFromHolder(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	var log syncBuffer
	o := testOptions(t, HolderProcess, &log)
	g1, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Unmount(o.Mountpoint) })
	if g1.holder == nil {
		t.Fatalf("no fd holder started; log:\n%s", log.String())
	}
	// A holder left running keeps the test's output open, and go test
	// waits for it: whatever the test's outcome, it goes.
	t.Cleanup(func() { syscall.Kill(g1.holder.PID, syscall.SIGKILL) })
	mid1, _ := LookupMount(o.Mountpoint)
	path := filepath.Join(o.Mountpoint, "proc/meminfo")
	if _, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	}

	// The first generation dies: its readers stop, its fds close, and so
	// does its attach socket, without a "leaving".
	close(g1.stopKS)
	if err := g1.srv.Drain(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	g1.attach.Close()
	g1.srv.Close()

	g2, err := Start(o)
	if err != nil {
		t.Fatalf("resume: %v; log:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "resumed the connection kept by the fd holder") {
		t.Errorf("the log does not say the holder kept the connection:\n%s", log.String())
	}
	if mid2, _ := LookupMount(o.Mountpoint); mid2 != mid1 {
		t.Errorf("mount %v after the resume, was %v", mid2, mid1)
	}
	if e1, e2 := g1.fs.HandleEpoch(), g2.fs.HandleEpoch(); e2 != nextHandleEpoch(e1) {
		t.Errorf("handle epoch %d after %d", e2, e1)
	}
	if b, err := os.ReadFile(path); err != nil || !strings.Contains(string(b), "file meminfo") {
		t.Errorf("read after the resume: %q %v", b, err)
	}
	holder := g2.holder.PID
	if err := g2.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, ok := LookupMount(o.Mountpoint); ok {
		t.Error("still mounted after Stop")
	}
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(holder, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if syscall.Kill(holder, 0) == nil {
		t.Errorf("the fd holder %d still runs after Stop released it", holder)
	}
}

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestUpgrade: four readers in four cgroups read every file of the mount in
// a loop while SIGUSR1 swaps the daemon's binary ten times, and once to a
// binary that fails to start. No read fails, the mount (its ID in
// mountinfo) stays the same, a file descriptor opened before the first swap
// and a bind mount made before it still work after the last (docs/upgrade.md).
func TestUpgrade(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	// Not parallel: the pause measurement wants a quiet machine.
	d := testenv.StartLiveDaemon(t, nil)
	id0, dev0, _ := testenv.MountInfo(d.Mnt)
	files := readableFiles(t, d.Mnt)
	bind := bindMount(t, d.Path(meminfo))
	load := startLoad(t, d.Mnt, files, bind)

	swaps := 0
	for i := range 11 {
		time.Sleep(300 * time.Millisecond)
		if i == 5 {
			// A broken upgrade: the successor exits at once.
			before := d.PID()
			failures := strings.Count(d.Log(), "upgrade failed")
			d.WriteBinary("#!/bin/sh\necho broken successor >&2\nexit 1\n")
			if err := unix.Kill(before, unix.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for strings.Count(d.Log(), "upgrade failed") == failures {
				if time.Now().After(deadline) {
					t.Fatalf("no \"upgrade failed\" in the log 10s after SIGUSR1 to a broken binary")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if pid := d.PID(); pid != before || !testenv.Alive(before) {
				t.Fatalf("after a failed upgrade: pidfile %d, daemon %d alive %v", pid, before, testenv.Alive(before))
			}
			d.ReplaceBinary(testenv.DaemonBinary(t))
			continue
		}
		d.ReplaceBinary(testenv.DaemonBinary(t))
		old := d.PID()
		start := time.Now()
		pid, err := d.Upgrade(20 * time.Second)
		if err != nil {
			t.Fatalf("swap %d: %v", swaps+1, err)
		}
		swaps++
		t.Logf("swap %d: %d -> %d in %v", swaps, old, pid, time.Since(start).Round(time.Millisecond))
		if id, dev, ok := testenv.MountInfo(d.Mnt); !ok || id != id0 || dev != dev0 {
			t.Errorf("after swap %d the mount is %d %s (mounted %v), was %d %s", swaps, id, dev, ok, id0, dev0)
		}
	}
	time.Sleep(300 * time.Millisecond)
	res := load.stop()
	res.report(t)
	if swaps != 10 {
		t.Errorf("%d swaps, want 10", swaps)
	}
	if b, err := os.ReadFile(bind); err != nil || !strings.HasPrefix(string(b), "MemTotal:") {
		t.Errorf("bind mount of %s after the last swap: %v %q", meminfo, err, firstLine(b))
	}
	var paused []string
	for _, line := range strings.Split(d.Log(), "\n") {
		if _, v, ok := strings.Cut(line, " paused="); ok {
			paused = append(paused, strings.Fields(v)[0])
		}
	}
	t.Logf("no reader served during the hand-overs for: %s", strings.Join(paused, " "))
	if got := strings.Count(d.Log(), "took over"); got != 10 {
		t.Errorf("%d \"took over\" lines in the log, want 10", got)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("SIGTERM after the swaps: %v", err)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// readableFiles lists the regular files below mnt's proc/ and sys/ that
// read without error now (sysfs has a few that never do). The cgroup/ tree
// is left out: its files come and go with the cgroups other tests make.
func readableFiles(t *testing.T, mnt string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(mnt, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && p == filepath.Join(mnt, "cgroup") {
			return filepath.SkipDir
		}
		if e.Type().IsRegular() {
			if _, err := os.ReadFile(p); err == nil {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, filepath.Join(mnt, meminfo)) || len(files) < 10 {
		t.Fatalf("only %d readable files below %s", len(files), mnt)
	}
	return files
}

// bindMount binds src onto a file in a temporary directory, as a container
// binds proc/meminfo over its /proc/meminfo, and returns the target.
func bindMount(t *testing.T, src string) string {
	t.Helper()
	target := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", src, err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	return target
}

// load is readers hammering the mount: four reader processes in four
// cgroups reading every file in a loop, and, in the test process, a prober
// that times each read of every file and one that keeps a descriptor of the
// bind mount open and reads it from offset 0 again and again (as top does
// with /proc/meminfo).
type load struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	res   loadResult
}

type loadResult struct {
	reads, failed int64
	errs          []string
	maxLatency    time.Duration
	maxAt         time.Time
}

func startLoad(t *testing.T, mnt string, files []string, bind string) *load {
	t.Helper()
	l := &load{stopc: make(chan struct{})}
	ops := make([]testenv.Op, len(files))
	for i, f := range files {
		ops[i] = testenv.Read(f)
	}
	for i := range 4 {
		cg := newCgroup(t).MemoryLimit(int64(256+64*i) * MiB)
		l.wg.Go(func() {
			for !l.stopped() {
				res, err := cg.Do(ops...)
				if err != nil {
					l.fail(fmt.Sprintf("reader %d: %v", i, err))
					continue
				}
				for _, r := range res {
					l.count(r.Error())
				}
			}
		})
	}
	var rounds atomic.Int64
	l.wg.Go(func() {
		for !l.stopped() {
			for _, f := range files {
				start := time.Now()
				_, err := os.ReadFile(f)
				l.timed(err, f, time.Since(start))
			}
			rounds.Add(1)
		}
	})
	l.wg.Go(func() {
		fd, err := unix.Open(bind, unix.O_RDONLY, 0)
		if err != nil {
			l.fail(fmt.Sprintf("open %s: %v", bind, err))
			return
		}
		defer unix.Close(fd)
		buf := make([]byte, 64<<10)
		for !l.stopped() {
			start := time.Now()
			n, err := unix.Pread(fd, buf, 0)
			if err == nil && !strings.HasPrefix(string(buf[:n]), "MemTotal:") {
				err = fmt.Errorf("read %q", firstLine(buf[:n]))
			}
			l.timed(err, "held fd of the bind mount", time.Since(start))
			time.Sleep(time.Millisecond)
		}
	})
	return l
}

func (l *load) stopped() bool {
	select {
	case <-l.stopc:
		return true
	default:
		return false
	}
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.failed++
	if len(l.res.errs) < 20 {
		l.res.errs = append(l.res.errs, time.Now().Format("15:04:05.000")+" "+msg)
	}
}

func (l *load) count(err error) {
	if err != nil {
		l.fail(err.Error())
		return
	}
	l.mu.Lock()
	l.res.reads++
	l.mu.Unlock()
}

func (l *load) timed(err error, what string, d time.Duration) {
	if err != nil {
		l.fail(fmt.Sprintf("%s: %v", what, err))
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.reads++
	if d > l.res.maxLatency {
		l.res.maxLatency, l.res.maxAt = d, time.Now()
	}
}

func (l *load) stop() loadResult {
	close(l.stopc)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

func (r loadResult) report(t *testing.T) {
	t.Helper()
	t.Logf("%d reads, %d failed; max latency of a timed read %v (at %s)",
		r.reads, r.failed, r.maxLatency.Round(time.Microsecond), r.maxAt.Format("15:04:05.000"))
	if r.failed > 0 {
		t.Errorf("%d reads failed; first ones:\n%s", r.failed, strings.Join(r.errs, "\n"))
	}
	for _, e := range r.errs {
		if strings.Contains(e, unix.ENOTCONN.Error()) {
			t.Errorf("a reader saw ENOTCONN")
			break
		}
	}
	if r.reads == 0 {
		t.Error("no reads")
	}
}

func readFileErr(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

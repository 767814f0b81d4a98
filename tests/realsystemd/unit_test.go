package realsystemd

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/debroot"
)

const (
	// unit is the unit `make install` installs.
	unit = "lxcfs-go.service"
	// mountPoint is where the unit mounts lxcfs-go.
	mountPoint = "/var/lib/lxcfs"
	// readerFile is what the reader binds over its /proc/meminfo.
	readerFile = mountPoint + "/proc/meminfo"
	// containerMemory is the container's memory limit: the reader must see
	// it as MemTotal, which shows that it reads lxcfs-go's file.
	containerMemory = 1 << 30
	// serveTimeout bounds the wait for the unit to serve again after a
	// crash or a reload; toolTimeout bounds ls, df and stat of the mount
	// point while the daemon is down.
	serveTimeout = 60 * time.Second
	toolTimeout  = 10 * time.Second
)

// unitMachine boots a fresh container from the cached rootfs with lxcfs-go
// installed (make install) and its unit enabled, and returns once the boot
// has started the unit and it serves.
func unitMachine(t *testing.T, opts installOptions) *machine {
	t.Helper()
	requireRealSystemd(t)
	root := debroot.Overlay(t, debroot.Cached(t, systemdRootfs))
	installLxcfsGo(t, root, opts)
	m := bootMachine(t, root, machineOptions{MemoryLimit: containerMemory})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("journal of %s (last lines):\n%s", unit, m.journal(unit, 80))
		}
	})
	pid, err := waitServing(m, 0, serveTimeout)
	if err != nil {
		t.Fatalf("the unit enabled in the rootfs does not serve after the boot: %v", err)
	}
	mnt, err := lxcfsMount(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: main pid %d, %s mounted (mount ID %s, device %s)", unit, pid, mountPoint, mnt.ID, mnt.Dev)
	return m
}

// mainPID is the unit's main process in the container (0 if none).
func mainPID(m *machine) (int, error) {
	p, err := m.unitProps(unit, "MainPID")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p["MainPID"])
}

// waitServing waits until the unit is active and running with a main
// process other than old (0: any), and returns that process's pid.
func waitServing(m *machine, old int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	var p map[string]string
	var err error
	for {
		p, err = m.unitProps(unit, "MainPID", "ActiveState", "SubState")
		if err == nil {
			pid, _ := strconv.Atoi(p["MainPID"])
			if p["ActiveState"] == "active" && p["SubState"] == "running" && pid != 0 && pid != old {
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not serving with a main process other than %d within %v: %v %v", unit, old, timeout, p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lxcfsMount is the lxcfs-go mount at mountPoint in the container's own
// mount namespace (its PID 1's).
func lxcfsMount(m *machine) (mountEntry, error) {
	mnt, err := mountAt(m.pid1, mountPoint)
	if err != nil {
		return mnt, err
	}
	if mnt.FSType != "fuse.lxcfs" {
		return mnt, fmt.Errorf("%s is %s, not fuse.lxcfs", mountPoint, mnt.FSType)
	}
	return mnt, nil
}

// killDaemon SIGKILLs the unit's main process (from the host, by its host
// pid) and returns its container pid and the moment of the kill.
func killDaemon(t *testing.T, m *machine) (int, time.Time) {
	t.Helper()
	pid, err := mainPID(m)
	if err != nil || pid == 0 {
		t.Fatalf("%s has no main process to kill: %d %v", unit, pid, err)
	}
	hp, err := m.hostPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if err := syscall.Kill(hp, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", hp, err)
	}
	return pid, at
}

// toolRun is how one command run while the daemon was down went.
type toolRun struct {
	cmd        string
	start, end time.Time
	err        error
}

// runTools runs ls, df and stat of the mount point in the container at
// once, each bounded by toolTimeout, and returns when all have ended.
func runTools(m *machine) []toolRun {
	cmds := [][]string{
		{"ls", "-la", mountPoint},
		{"df", mountPoint},
		{"stat", mountPoint},
	}
	runs := make([]toolRun, len(cmds))
	var wg sync.WaitGroup
	for i, argv := range cmds {
		wg.Go(func() {
			r := toolRun{cmd: strings.Join(argv, " "), start: time.Now()}
			_, r.err = m.run(toolTimeout, argv...)
			r.end = time.Now()
			runs[i] = r
		})
	}
	wg.Wait()
	return runs
}

// crash is one kill -9 of the daemon and what followed.
type crash struct {
	n          int
	oldPID     int
	newPID     int
	at         time.Time // the kill
	restarted  time.Time // systemd shows the new main process running
	firstOK    time.Time // the reader's first successful read begun after the kill
	tools      []toolRun
	serveError error
}

// crashDaemon kills the daemon with ls, df and stat of the mount point
// running meanwhile, and waits until it serves again: systemd has a new
// main process and the reader has read successfully. Each tool must
// succeed within toolTimeout.
func crashDaemon(t *testing.T, m *machine, rd *reader, n int) *crash {
	t.Helper()
	c := &crash{n: n}
	c.oldPID, c.at = killDaemon(t, m)
	tools := make(chan []toolRun, 1)
	go func() { tools <- runTools(m) }()
	c.newPID, c.serveError = waitServing(m, c.oldPID, serveTimeout)
	c.restarted = time.Now()
	c.tools = <-tools
	for _, r := range c.tools {
		if r.err != nil {
			t.Errorf("kill -9 #%d: `%s` started %v after the kill failed after %v: %v",
				n, r.cmd, r.start.Sub(c.at).Round(time.Millisecond), r.end.Sub(r.start).Round(time.Millisecond), r.err)
		}
	}
	if c.serveError != nil {
		t.Fatalf("kill -9 #%d: %v\nreader since the kill: %s", n, c.serveError, rd.summary(c.at))
	}
	s, err := rd.waitFor(serveTimeout, fmt.Sprintf("successful read after kill -9 #%d", n), func(s []sample) bool {
		_, ok := okAfter(s, c.at)
		return ok
	})
	if err != nil {
		t.Fatalf("kill -9 #%d: the reader: %v", n, err)
	}
	first, _ := okAfter(s, c.at)
	c.firstOK = first.end
	return c
}

// report is the crash's line for the test log; gap is the reader's longest
// time between two successful reads around the kill.
func (c *crash) report(s []sample) string {
	var tools []string
	for _, r := range c.tools {
		status := "ok"
		if r.err != nil {
			status = "FAILED"
		}
		tools = append(tools, fmt.Sprintf("%s %s in %v (from +%v)", strings.Fields(r.cmd)[0], status,
			r.end.Sub(r.start).Round(time.Millisecond), r.start.Sub(c.at).Round(time.Millisecond)))
	}
	return fmt.Sprintf("kill -9 #%d of pid %d: pid %d running after %v; reader: gap %v, %d failed reads, slowest read %v; %s",
		c.n, c.oldPID, c.newPID, c.restarted.Sub(c.at).Round(time.Millisecond),
		longestGap(s, c.at, c.firstOK).Round(time.Millisecond),
		len(failures(s, c.at, c.firstOK.Add(time.Millisecond))),
		slowestRead(s, c.at, c.firstOK).Round(time.Millisecond), strings.Join(tools, ", "))
}

// reloadDaemon runs `systemctl reload` and waits for the successor to be
// the main process; it returns the time taken and the successor's pid.
func reloadDaemon(t *testing.T, m *machine, n int) (at, done time.Time, oldPID, newPID int) {
	t.Helper()
	oldPID, err := mainPID(m)
	if err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	if _, err := m.run(serveTimeout, "systemctl", "reload", unit); err != nil {
		t.Fatalf("reload #%d: %v", n, err)
	}
	newPID, err = waitServing(m, oldPID, serveTimeout)
	if err != nil {
		t.Fatalf("reload #%d: the successor did not become the main process: %v", n, err)
	}
	return at, time.Now(), oldPID, newPID
}

// checkMemTotal fails the test if a successful read showed another
// MemTotal than the container's limit: the reader would not be reading
// lxcfs-go's file (or lxcfs-go would not see the container's cgroup).
func checkMemTotal(t *testing.T, s []sample) {
	t.Helper()
	want := int64(containerMemory / 1024)
	for _, x := range s {
		if x.ok && x.memTotal != want {
			t.Errorf("a read showed MemTotal %d kB, want %d kB (the container's memory limit): %v", x.memTotal, want, x)
			return
		}
	}
}

// TestUnitKeepsTheMount is the main case: under the unit, a crash
// and a reload must not cost a container a single read. The reader reads
// its /proc/meminfo (lxcfs-go's, bound over it) every 20 ms throughout:
// kill -9 of the daemon with ls, df and stat of the mount point running
// meanwhile; `systemctl reload` three times; kill -9 again. No read may
// fail, and the mount must be the same mount (same mount ID) at the end.
func TestUnitKeepsTheMount(t *testing.T) {
	m := unitMachine(t, installOptions{})
	before, err := lxcfsMount(m)
	if err != nil {
		t.Fatal(err)
	}
	rd := startReader(t, m, readerFile)
	began := time.Now()

	var crashes []*crash
	crashes = append(crashes, crashDaemon(t, m, rd, 1))
	type reload struct {
		at, done    time.Time
		oldPID, pid int
	}
	var reloads []reload
	for i := 1; i <= 3; i++ {
		at, done, oldPID, pid := reloadDaemon(t, m, i)
		reloads = append(reloads, reload{at: at, done: done, oldPID: oldPID, pid: pid})
		time.Sleep(300 * time.Millisecond) // reads across the hand-over and after it
	}
	crashes = append(crashes, crashDaemon(t, m, rd, 2))
	time.Sleep(time.Second)

	after, err := lxcfsMount(m)
	if err != nil {
		t.Fatal(err)
	}
	readerPID, _ := m.hostPID(rd.mainPID)
	readerBind, bindErr := mountAt(readerPID, "/proc/meminfo")
	s := rd.stop()
	ended := time.Now()

	fails := failures(s, time.Time{}, ended.Add(time.Hour))
	t.Logf("reader: %d reads, %d failed, over %v", len(s), len(fails), ended.Sub(began).Round(time.Millisecond))
	for _, c := range crashes {
		t.Logf("%s", c.report(s))
	}
	for i, r := range reloads {
		window := r.done.Add(300 * time.Millisecond)
		t.Logf("reload #%d: pid %d -> %d in %v; reader: longest gap %v, %d failed reads, slowest read %v",
			i+1, r.oldPID, r.pid, r.done.Sub(r.at).Round(time.Millisecond),
			longestGap(s, r.at, window).Round(time.Millisecond), len(failures(s, r.at, window)),
			slowestRead(s, r.at, window).Round(time.Millisecond))
	}
	t.Logf("%s: mount ID %s (device %s) before, %s (device %s) after", mountPoint, before.ID, before.Dev, after.ID, after.Dev)

	if len(fails) > 0 {
		t.Errorf("%d of %d reads failed; the first ones:\n%s", len(fails), len(s), lastSamples(fails[:min(len(fails), 10)], 10))
	}
	if after.ID != before.ID || after.Dev != before.Dev {
		t.Errorf("%s is another mount at the end: mount ID %s, device %s; at the start %s, %s", mountPoint, after.ID, after.Dev, before.ID, before.Dev)
	}
	if bindErr != nil {
		t.Errorf("the reader's /proc/meminfo: %v", bindErr)
	} else if readerBind.Dev != before.Dev {
		t.Errorf("the reader's /proc/meminfo is on device %s at the end, the mount's is %s", readerBind.Dev, before.Dev)
	}
	if n := len(s); n < 100 {
		t.Errorf("only %d reads: the reader did not run throughout", n)
	}
	checkMemTotal(t, s)
}

// TestUnitStopStartRemount: `systemctl stop` unmounts (the reader's bind
// then fails: a stop is not a crash), `systemctl start` mounts afresh, and
// `lxcfs-go remount` heals the reader's bind without restarting the
// reader. The failures in the gap are counted; after the remount none is
// allowed.
func TestUnitStopStartRemount(t *testing.T) {
	m := unitMachine(t, installOptions{})
	before, err := lxcfsMount(m)
	if err != nil {
		t.Fatal(err)
	}
	rd := startReader(t, m, readerFile)
	began := time.Now()

	stopAt := time.Now()
	m.mustRun("systemctl", "stop", unit)
	stopped := time.Now()
	if _, err := rd.waitFor(10*time.Second, "failed read after the stop", func(s []sample) bool {
		return len(failures(s, stopAt, time.Now().Add(time.Hour))) > 0
	}); err != nil {
		t.Errorf("after systemctl stop (which unmounts): %v", err)
	}

	startAt := time.Now()
	m.mustRun("systemctl", "start", unit)
	pid, err := waitServing(m, 0, serveTimeout)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	fresh, err := lxcfsMount(m)
	if err != nil {
		t.Fatal(err)
	}

	remountAt := time.Now()
	out, err := m.run(commandTimeout, "lxcfs-go", "remount")
	remounted := time.Now()
	if err != nil {
		t.Fatalf("lxcfs-go remount: %v", err)
	}
	t.Logf("lxcfs-go remount (%v):\n%s", remounted.Sub(remountAt).Round(time.Millisecond), strings.TrimSpace(out))
	if _, err := rd.waitFor(10*time.Second, "successful read after lxcfs-go remount", func(s []sample) bool {
		_, ok := okAfter(s, remounted)
		return ok
	}); err != nil {
		t.Fatalf("lxcfs-go remount did not heal the reader: %v", err)
	}
	time.Sleep(time.Second) // a second of reads on the healed bind

	readerPID, _ := m.hostPID(rd.mainPID)
	readerBind, bindErr := mountAt(readerPID, "/proc/meminfo")
	nowPID, _ := rd.pid()
	s := rd.stop()
	ended := time.Now()

	gapFails := failures(s, stopAt, remounted)
	var afterRemount []sample
	for _, x := range s {
		if !x.ok && x.start().After(remounted) {
			afterRemount = append(afterRemount, x)
		}
	}
	first, _ := okAfter(s, remounted)
	var errnos []string
	for _, x := range gapFails {
		if !slices.Contains(errnos, x.errno) {
			errnos = append(errnos, x.errno)
		}
	}
	t.Logf("reader: %d reads over %v; %d failed between the stop and the end of the remount (%s), %d after it",
		len(s), ended.Sub(began).Round(time.Millisecond), len(gapFails), strings.Join(errnos, ", "), len(afterRemount))
	t.Logf("stop took %v; start: pid %d serving after %v; remount %v; reader healed %v after the remount; gap (last read before the stop to first after the remount) %v",
		stopped.Sub(stopAt).Round(time.Millisecond), pid, started.Sub(startAt).Round(time.Millisecond),
		remounted.Sub(remountAt).Round(time.Millisecond), first.end.Sub(remounted).Round(time.Millisecond),
		longestGap(s, stopAt, first.end).Round(time.Millisecond))
	t.Logf("%s: mount ID %s (device %s) before the stop, %s (device %s) after the start",
		mountPoint, before.ID, before.Dev, fresh.ID, fresh.Dev)

	if len(afterRemount) > 0 {
		t.Errorf("%d reads begun after lxcfs-go remount failed:\n%s", len(afterRemount), lastSamples(afterRemount, 10))
	}
	if nowPID != rd.mainPID || rd.starts() != 1 {
		t.Errorf("the reader was restarted (pid %d, now %d, %d starts): remount must heal it in place", rd.mainPID, nowPID, rd.starts())
	}
	if bindErr != nil {
		t.Errorf("the reader's /proc/meminfo: %v", bindErr)
	} else if readerBind.Dev != fresh.Dev {
		t.Errorf("the reader's /proc/meminfo is on device %s after the remount, the new mount is %s", readerBind.Dev, fresh.Dev)
	}
	checkMemTotal(t, s)
}

// TestUnitCrashLoop: the daemon's binary is replaced by one that exits 1 at
// start, then the daemon is killed. systemd restarts it in vain and gives
// up; the fd holder (LXCFS_GO_HOLDER_GRACE=5s, set by a drop-in) lets the
// connection go. The reader's reads must then end in a clear error
// (ENOTCONN or ECONNABORTED) within a bounded time, and keep doing so at
// once: a container must never hang for ever on a dead daemon.
func TestUnitCrashLoop(t *testing.T) {
	const bound = 60 * time.Second
	m := unitMachine(t, installOptions{Environment: []string{"LXCFS_GO_HOLDER_GRACE=5s"}})
	rd := startReader(t, m, readerFile)

	// As a broken package upgrade would: a new file renamed over the old.
	replaceFile(t, m.root+"/usr/bin/lxcfs-go", "#!/bin/sh\n# lxcfs-go-test: a daemon that cannot start\nexit 1\n", 0o755)
	oldPID, killAt := killDaemon(t, m)

	s, err := rd.waitFor(bound+30*time.Second, "failed read after the kill", func(s []sample) bool {
		return len(failures(s, killAt, time.Now().Add(time.Hour))) > 0
	})
	if err != nil {
		t.Fatalf("reads hang: %v\nreader since the kill: %s", err, rd.summary(killAt))
	}
	first := failures(s, killAt, time.Now().Add(time.Hour))[0]
	errAfter := first.end.Sub(killAt)

	// Once failing, reads fail at once: five more, none slow.
	_, err = rd.waitFor(10*time.Second, "five reads after the first failure", func(s []sample) bool {
		return len(failures(s, first.end.Add(time.Millisecond), time.Now().Add(time.Hour))) >= 5
	})
	if err != nil {
		t.Errorf("after the first failed read: %v", err)
	}
	p, _ := m.unitProps(unit, "ActiveState", "SubState", "Result", "NRestarts")
	samples := rd.stop()

	fails := failures(samples, killAt, time.Now().Add(time.Hour))
	t.Logf("kill -9 of pid %d with a binary that exits 1: first failed read %v after the kill (%s: %s), after a read that waited %v; last successful read ended %v before the kill; %d reads, %d failed; the unit: %v",
		oldPID, errAfter.Round(time.Millisecond), first.errno, first.text, first.dur.Round(time.Millisecond),
		killAt.Sub(lastOKBefore(samples, first.end)).Round(time.Millisecond), len(samples), len(fails), p)

	if first.errno != "ENOTCONN" && first.errno != "ECONNABORTED" {
		t.Errorf("the first failed read: %s (%s), want ENOTCONN (Transport endpoint is not connected) or ECONNABORTED (Software caused connection abort)", first.errno, first.text)
	}
	if errAfter > bound {
		t.Errorf("the reads failed only %v after the kill, want at most %v", errAfter.Round(time.Millisecond), bound)
	}
	for _, x := range fails {
		if x.errno != "ENOTCONN" && x.errno != "ECONNABORTED" {
			t.Errorf("a failed read: %v, want ENOTCONN or ECONNABORTED", x)
			break
		}
	}
	for _, x := range samples {
		if x.end.After(first.end) && x.dur > time.Second {
			t.Errorf("a read after the first failure took %v: reads must fail at once once the connection is gone", x.dur)
			break
		}
	}
}

// lastOKBefore is the end of the last successful read that ended before t.
func lastOKBefore(s []sample, t time.Time) time.Time {
	var last time.Time
	for _, x := range s {
		if x.ok && x.end.Before(t) {
			last = x.end
		}
	}
	return last
}

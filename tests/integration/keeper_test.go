package integration

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestKeeperOutlivesDaemons plays the Kubernetes arrangement without
// Kubernetes: an "lxcfs-go fd-keeper" runs apart from the daemon (its own
// pod), and daemons started with LXCFS_GO_FD_HOLDER=keeper come and go as
// the daemon's pod is replaced (SIGTERM, a second later a new daemon),
// crashes (SIGKILL, then the kubelet's restart) and is upgraded in place.
// Under readers, one through a bind mount as a pod reads, no read fails,
// nothing is unmounted on SIGTERM, and the mount stays the same.
func TestKeeperOutlivesDaemons(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	d := testenv.NewLiveDaemon(t, []string{"LXCFS_GO_FD_HOLDER=keeper"})
	keeper := startKeeper(t, d)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Log(), "the fd keeper keeps the new connection") {
		t.Fatalf("the daemon did not give its connection to the keeper; log:\n%s", d.Log())
	}
	id0, dev0, _ := testenv.MountInfo(d.Mnt)
	load := startLoad(t, d.Mnt, readableFiles(t, d.Mnt), bindMount(t, d.Path(meminfo)))

	// The daemon's pod is deleted: SIGTERM, and the next pod's daemon a
	// second later.
	time.Sleep(300 * time.Millisecond)
	terminate(t, d.PID())
	if id, _, ok := testenv.MountInfo(d.Mnt); !ok || id != id0 {
		t.Fatalf("after SIGTERM in keeper mode the mount is gone or changed (%d, mounted %v)", id, ok)
	}
	time.Sleep(time.Second)
	if err := d.Start(); err != nil {
		t.Fatalf("the next daemon: %v", err)
	}
	// The daemon is killed in its pod; the kubelet starts it again.
	time.Sleep(300 * time.Millisecond)
	d.Kill()
	time.Sleep(500 * time.Millisecond)
	if err := d.Start(); err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := d.Upgrade(20 * time.Second); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	load.stop().report(t)

	if got := strings.Count(d.Log(), "resumed the connection kept by the fd keeper"); got != 2 {
		t.Errorf("%d resumes from the keeper in the log, want 2", got)
	}
	if id, dev, ok := testenv.MountInfo(d.Mnt); !ok || id != id0 || dev != dev0 {
		t.Errorf("at the end the mount is %d %s (mounted %v), was %d %s", id, dev, ok, id0, dev0)
	}

	// Uninstalled: the daemon leaves, the keeper stops, and the connection
	// ends with it.
	terminate(t, d.PID())
	if err := keeper.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	keeper.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var st unix.Statfs_t
		err := unix.Statfs(d.Mnt, &st)
		if err == unix.ENOTCONN || err == unix.ECONNABORTED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection did not end with the keeper: statfs %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	unix.Unmount(d.Mnt, unix.MNT_DETACH)
}

// startKeeper starts "lxcfs-go fd-keeper" for d's pidfile and waits for its
// socket; a cleanup stops it if the test has not.
func startKeeper(t *testing.T, d *testenv.LiveDaemon) *exec.Cmd {
	t.Helper()
	logf, err := os.OpenFile(d.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(d.Binary, "fd-keeper", "-p", d.Pidfile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(d.Pidfile + ".fd-holder"); err == nil {
			return cmd
		}
		if i == 500 {
			t.Fatalf("no keeper socket after 5s; log:\n%s", d.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// terminate sends SIGTERM to pid and waits until it has exited.
func terminate(t *testing.T, pid int) {
	t.Helper()
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd of %d: %v", pid, err)
	}
	defer unix.Close(pfd)
	unix.Kill(pid, unix.SIGTERM)
	fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 10000); n != 1 {
		t.Fatalf("%d still runs 10s after SIGTERM", pid)
	}
}

// TestKeeperStartsLate: a daemon in keeper mode started before its keeper
// (two DaemonSets on a new node start in any order) waits for it instead of
// failing, then mounts and gives it the connection.
func TestKeeperStartsLate(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	t.Parallel()
	d := testenv.NewLiveDaemon(t, []string{"LXCFS_GO_FD_HOLDER=keeper"})
	var keeper *exec.Cmd
	started := make(chan error, 1)
	go func() {
		// The keeper comes once the daemon waits for it (not after a
		// fixed delay: a slow machine may not have got the daemon there).
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(d.Log(), "waiting for the fd keeper") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		keeper = exec.Command(d.Binary, "fd-keeper", "-p", d.Pidfile)
		started <- keeper.Start()
	}()
	err := d.Start()
	if kerr := <-started; kerr != nil {
		t.Fatalf("keeper: %v", kerr)
	}
	t.Cleanup(func() {
		keeper.Process.Kill()
		keeper.Wait()
	})
	if err != nil {
		t.Fatalf("a daemon started before its keeper: %v", err)
	}
	for _, want := range []string{"waiting for the fd keeper", "the fd keeper keeps the new connection"} {
		if !strings.Contains(d.Log(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	terminate(t, d.PID())
	keeper.Process.Signal(syscall.SIGTERM)
	keeper.Wait()
	unix.Unmount(d.Mnt, unix.MNT_DETACH)
}

// TestKeeperWaitStops: a daemon waiting for a keeper that never comes
// stops at once on SIGTERM (a pod deleted meanwhile), instead of ignoring
// it for its whole wait.
func TestKeeperWaitStops(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	t.Parallel()
	d := testenv.NewLiveDaemon(t, []string{"LXCFS_GO_FD_HOLDER=keeper"})
	cmd := exec.Command(d.Binary, d.Args...)
	cmd.Env = append(os.Environ(), d.Env...)
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// SIGTERM once it waits (before that, on a slow machine, the signal
	// could come before the daemon has its handler and kill it outright).
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "waiting for the fd keeper") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("the daemon did not say it waits for the keeper within 30 s; output:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err == nil || !strings.Contains(out.String(), "while waiting for the fd keeper") {
			t.Errorf("exit %v, output:\n%s", err, out.String())
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("still waiting for the keeper 5 s after SIGTERM; output:\n%s", out.String())
	}
}

package testenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// LiveDaemon is an lxcfs-go whose process changes: SIGUSR1 hands the mount
// to a successor, a crash leaves it to the next start. It is tracked by
// its pidfile, not by a process handle, and runs a copy of the daemon
// binary that the test may replace (ReplaceBinary). Its output goes to a
// log file, which every generation shares.
type LiveDaemon struct {
	Mnt     string
	Pidfile string
	// Binary is the daemon's copy of the executable.
	Binary  string
	Args    []string
	LogFile string
	Env     []string
	t       testing.TB
}

// StartLiveDaemon copies the daemon binary into a temporary directory and
// starts it with env added to its environment; it returns once the mount
// answers.
func StartLiveDaemon(t testing.TB, env []string, args ...string) *LiveDaemon {
	t.Helper()
	d := NewLiveDaemon(t, env, args...)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	return d
}

// NewLiveDaemon is StartLiveDaemon without the start: for tests that start
// something beside the daemon first.
func NewLiveDaemon(t testing.TB, env []string, args ...string) *LiveDaemon {
	t.Helper()
	RequireMountAndCgroups(t)
	dir := t.TempDir()
	d := &LiveDaemon{
		Mnt:     filepath.Join(dir, daemonMountDir),
		Pidfile: filepath.Join(dir, pidfileName),
		Binary:  filepath.Join(dir, "bin", "lxcfs-go"),
		LogFile: filepath.Join(dir, "daemon.log"),
		Env:     env,
		t:       t,
	}
	if err := os.MkdirAll(filepath.Dir(d.Binary), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(d.Mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	d.ReplaceBinary(DaemonBinary(t))
	d.Args = append(append([]string{"-f", "-p", d.Pidfile}, args...), d.Mnt)
	t.Cleanup(d.cleanup)
	return d
}

// Path joins rel to the mount point.
func (d *LiveDaemon) Path(rel string) string { return filepath.Join(d.Mnt, rel) }

// Log is what every generation wrote so far.
func (d *LiveDaemon) Log() string {
	b, _ := os.ReadFile(d.LogFile)
	return string(b)
}

// Start starts a daemon generation (after a crash, say) and waits until the
// pidfile names it and the mount answers.
func (d *LiveDaemon) Start() error { return d.StartWith(nil, nil) }

// StartWith is Start with files passed as systemd passes its fd store:
// from fd 3 on, named in LISTEN_FDNAMES, with LISTEN_PID the daemon's.
func (d *LiveDaemon) StartWith(files []*os.File, names []string) error {
	logf, err := os.OpenFile(d.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(d.Binary, d.Args...)
		cmd.Env = append(os.Environ(), d.Env...)
		if len(files) > 0 {
			// sh's $$ is the pid the daemon will have after exec.
			cmd = exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, d.Binary}, d.Args...)...)
			cmd.Env = append(os.Environ(), d.Env...)
			cmd.Env = append(cmd.Env, fmt.Sprintf("LISTEN_FDS=%d", len(files)), "LISTEN_FDNAMES="+strings.Join(names, ":"))
			cmd.ExtraFiles = files
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		return cmd
	}
	serving := strings.Count(d.Log(), "msg=serving")
	cmd := newCmd()
	// ETXTBSY: a process forked meanwhile by another test may still hold
	// a write descriptor of the binary's new copy until it execs.
	for try := 0; ; try++ {
		err = cmd.Start()
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ETXTBSY) || try == 50 {
			return err
		}
		time.Sleep(20 * time.Millisecond)
		cmd = newCmd()
	}
	go cmd.Wait()
	deadline := time.Now().Add(MountTimeout)
	for {
		// Set up (fd holder included), and a read, not a stat, reaches
		// it.
		if d.PID() == cmd.Process.Pid && strings.Count(d.Log(), "msg=serving") > serving {
			if _, err := os.ReadFile(d.Path("proc/meminfo")); err == nil {
				return nil
			}
		}
		if !Alive(cmd.Process.Pid) {
			return fmt.Errorf("daemon exited before serving; log:\n%s", d.Log())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon %d not serving after %v; log:\n%s", cmd.Process.Pid, MountTimeout, d.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitRestarted waits until a daemon other than old (one the fd holder
// restarted) is in the pidfile and a read is answered.
func (d *LiveDaemon) WaitRestarted(old int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if pid := d.PID(); pid != old && pid > 1 && Alive(pid) {
			if _, err := os.ReadFile(d.Path("proc/meminfo")); err == nil {
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no daemon other than %d serving after %v; log:\n%s", old, timeout, d.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// PID is the pid in the pidfile, 0 if none.
func (d *LiveDaemon) PID() int {
	b, err := os.ReadFile(d.Pidfile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// ReplaceBinary puts a copy of src where the daemon's binary is, as a
// package upgrade does (a new file renamed over the old one).
func (d *LiveDaemon) ReplaceBinary(src string) {
	d.t.Helper()
	in, err := os.Open(src)
	if err != nil {
		d.t.Fatal(err)
	}
	defer in.Close()
	tmp := d.Binary + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		d.t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, d.Binary); err != nil {
		d.t.Fatal(err)
	}
}

// WriteBinary puts a file with content at the binary's place (a broken
// upgrade).
func (d *LiveDaemon) WriteBinary(content string) {
	d.t.Helper()
	tmp := d.Binary + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, d.Binary); err != nil {
		d.t.Fatal(err)
	}
}

// Upgrade sends SIGUSR1 and waits until a new pid is in the pidfile and the
// old process is gone.
func (d *LiveDaemon) Upgrade(timeout time.Duration) (int, error) {
	old := d.PID()
	serving := strings.Count(d.Log(), "msg=serving")
	pfd, err := unix.PidfdOpen(old, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(pfd)
	if err := syscall.Kill(old, syscall.SIGUSR1); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(timeout)
	for {
		if pid := d.PID(); pid != old && pid != 0 && waitGone(pfd, 0) && strings.Count(d.Log(), "msg=serving") > serving {
			return pid, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no successor of %d after %v", old, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Kill SIGKILLs the current generation and waits until it is gone.
func (d *LiveDaemon) Kill() {
	pid := d.PID()
	if pid <= 1 {
		return
	}
	pfd, err := unix.PidfdOpen(pid, 0)
	syscall.Kill(pid, syscall.SIGKILL)
	if err != nil {
		for Alive(pid) {
			time.Sleep(time.Millisecond)
		}
		return
	}
	defer unix.Close(pfd)
	waitGone(pfd, 10*time.Second)
}

// waitGone waits until the process of pidfd has exited with all its
// threads (and closed its files: its pidfile lock is free); the leader
// alone is a zombie earlier.
func waitGone(pfd int, timeout time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(timeout/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// Stop sends SIGTERM to the current generation and waits until it has
// exited and the mount is gone.
func (d *LiveDaemon) Stop() error {
	pid := d.PID()
	if pid <= 1 || !Alive(pid) {
		return errors.New("no daemon running")
	}
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(StopTimeout)
	for !waitGone(pfd, 0) {
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon %d still running %v after SIGTERM", pid, StopTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 100 {
		if _, ok, _ := mountAt(d.Mnt); !ok {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s still mounted after the daemon exited", d.Mnt)
}

// Processes lists the processes whose command line names the mount point
// (daemon generations and the fd holder).
func (d *LiveDaemon) Processes() []int {
	return processesNaming(d.Mnt)
}

func (d *LiveDaemon) cleanup() {
	if pid := d.PID(); pid > 1 && Alive(pid) {
		if err := d.Stop(); err != nil {
			d.t.Errorf("testenv: %v", err)
		}
	}
	// The holder exits when released or when the connection ends.
	deadline := time.Now().Add(2 * time.Second)
	for len(d.Processes()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, pid := range d.Processes() {
		d.t.Errorf("testenv: process %d still runs after stop; killed", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if _, ok, _ := mountAt(d.Mnt); ok {
		unix.Unmount(d.Mnt, unix.MNT_DETACH)
	}
	log := d.Log()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(log, bad) {
			d.t.Errorf("testenv: daemon log has %q", bad)
		}
	}
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", log)
	}
}

// Alive reports whether pid runs (a zombie does not).
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

func processesNaming(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg && Alive(pid) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// MountInfo is the mount ID and device number of the mount at dir.
func MountInfo(dir string) (id int, dev string, ok bool) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMountinfo(f[4]) == dir {
			id, _ = strconv.Atoi(f[0])
			dev, ok = f[2], true
		}
	}
	return id, dev, ok
}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const daemonBin = "/bin/lxcfs-go"

// daemon is a running lxcfs-go.
type daemon struct {
	mnt, pidfile string
	cmd          *exec.Cmd
	done         chan struct{}
	waitErr      error
}

func sysProcInCgroup(fd int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
}

// daemonMissing is why daemon scenarios cannot run, or "".
func (g *guest) daemonMissing() string {
	if _, err := os.Stat(daemonBin); err != nil {
		why := "daemon missing: " + daemonBin + " is not in the initramfs"
		if g.cfg.DaemonMissing != "" {
			why += " (" + firstLine(g.cfg.DaemonMissing) + ")"
		}
		return why
	}
	return ""
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	lines := strings.Split(s, "\n")
	// go build prints "# pkg" first; the error is on the next line.
	for _, l := range lines {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "go build") {
			return l
		}
	}
	return lines[0]
}

// startDaemon runs "lxcfs-go -f -p PIDFILE [extra] MNT" in its own leaf
// cgroup, pipes its output to the console prefixed with its mount point,
// and waits until the FUSE mount appears.
func (g *guest) startDaemon(mnt, pidfile string, extra ...string) (*daemon, error) {
	cg := cgBase + "/daemon-" + path.Base(mnt)
	if err := mkcg(cg); err != nil {
		return nil, err
	}
	fd, err := unix.Open(cgPath(cg), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	args := append([]string{"-f", "-p", pidfile}, g.cfg.DaemonArgs...)
	args = append(args, extra...)
	args = append(args, mnt)
	cmd := exec.Command(daemonBin, args...)
	cmd.SysProcAttr = sysProcInCgroup(fd)
	cmd.Env = []string{"PATH=/bin", "HOME=/root"}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{mnt: mnt, pidfile: pidfile, cmd: cmd, done: make(chan struct{})}
	prefix := fmt.Sprintf("[lxcfs-go %s] ", mnt)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			g.con.line(prefix + sc.Text())
		}
	}()
	go func() {
		d.waitErr = cmd.Wait()
		pw.Close()
		close(d.done)
	}()
	g.logf("started %s %s (pid %d)", daemonBin, strings.Join(args, " "), cmd.Process.Pid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := findMount(mnt); ok {
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("%s exited before mounting %s: %v (its output is in the console log, prefixed %q)",
				daemonBin, mnt, d.waitErr, prefix)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("%s did not mount %s within 30s", daemonBin, mnt)
		}
	}
}

// stop sends SIGTERM and waits up to 15 s, then SIGKILLs.
func (d *daemon) stop() (exited bool, err error) {
	_ = d.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-d.done:
		return true, d.waitErr
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		_ = unix.Unmount(d.mnt, unix.MNT_DETACH)
		return false, errors.New("still running 15s after SIGTERM; killed")
	}
}

// mountEntry is one /proc/self/mountinfo line.
type mountEntry struct {
	mountpoint, opts, fstype, source, superOpts string
}

func findMount(mnt string) (mountEntry, bool) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return mountEntry{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 3 || f[4] != mnt {
			continue
		}
		return mountEntry{mountpoint: f[4], opts: f[5], fstype: g[0], source: g[1], superOpts: g[2]}, true
	}
	return mountEntry{}, false
}

// daemonStart checks the mount and the pidfile of a freshly started daemon.
func (g *guest) daemonStartChecks(name string, d *daemon) {
	me, _ := findMount(d.mnt)
	g.expect(name+"/fstype", "/proc/self/mountinfo", d.mnt+" fstype", me.fstype, "fuse.lxcfs", "")
	g.expect(name+"/source", "/proc/self/mountinfo", d.mnt+" source", me.source, "lxcfs-go", "")
	g.expectThat(strings.Contains(","+me.superOpts+",", ",allow_other,"), name+"/allow_other",
		"/proc/self/mountinfo", d.mnt+" super options", me.superOpts, "contains allow_other", "")
	pid, err := readTrim(d.pidfile)
	if err != nil {
		g.failErr(name+"/pidfile", d.pidfile, err, "")
	} else {
		g.expect(name+"/pidfile", d.pidfile, "pid", pid, strconv.Itoa(d.cmd.Process.Pid), "")
	}
	out := performOps([]string{"ls:" + d.mnt, "ls:" + d.mnt + "/proc", "ls:" + d.mnt + "/proc/pressure"})
	top, err := out.list("ls:" + d.mnt)
	if err != nil {
		g.failErr(name+"/tree", d.mnt, err, "")
		return
	}
	for _, want := range []string{"proc/", "sys/"} {
		g.expectThat(contains(top, want), name+"/tree/"+strings.TrimSuffix(want, "/"), d.mnt, want,
			strings.Join(top, " "), "contains "+want, "")
	}
	procs, err := out.list("ls:" + d.mnt + "/proc")
	if err != nil {
		g.failErr(name+"/tree/proc", d.mnt+"/proc", err, "")
		return
	}
	for _, f := range []string{"cpuinfo", "diskstats", "loadavg", "meminfo", "slabinfo", "stat", "swaps", "uptime", "pressure/"} {
		g.expectThat(contains(procs, f), name+"/tree/proc/"+strings.TrimSuffix(f, "/"), d.mnt+"/proc", f,
			strings.Join(procs, " "), "contains "+f, "")
	}
	if pr, err := out.list("ls:" + d.mnt + "/proc/pressure"); err != nil {
		g.failErr(name+"/tree/proc/pressure", d.mnt+"/proc/pressure", err, "")
	} else {
		g.expect(name+"/tree/proc/pressure", d.mnt+"/proc/pressure", "entries", strings.Join(pr, " "), "cpu io memory", "")
	}
}

// daemonStopChecks: SIGTERM unmounts and removes the pidfile.
func (g *guest) daemonStopChecks(name string, d *daemon) {
	exited, err := d.stop()
	if !exited {
		g.failErr(name+"/sigterm", daemonBin, err, "")
		return
	}
	got := "exit status 0"
	if err != nil {
		got = err.Error()
	}
	g.expect(name+"/sigterm", daemonBin, "exit status after SIGTERM", got, "exit status 0", "")
	_, mounted := findMount(d.mnt)
	g.expect(name+"/unmounted", "/proc/self/mountinfo", d.mnt, fmt.Sprint(mounted), "false", "")
	_, perr := os.Stat(d.pidfile)
	g.expect(name+"/pidfile-removed", d.pidfile, "exists", fmt.Sprint(perr == nil), "false", "")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

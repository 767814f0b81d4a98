package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// yamlList returns the items of the block list that follows the first line
// "<indent>key:" after the line containing after, in a manifest: enough
// YAML for the command lists of deploy/kubernetes.
func yamlList(t *testing.T, manifest, after, key string) []string {
	t.Helper()
	b, err := os.ReadFile(repo(t, "deploy/kubernetes/"+manifest))
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	started, inList := false, false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !started:
			started = strings.Contains(line, after)
		case !inList:
			if trimmed == key+":" {
				inList = true
			} else if v, ok := strings.CutPrefix(trimmed, key+": "); ok && strings.HasPrefix(v, "[") {
				for _, item := range strings.Split(strings.Trim(v, "[]"), ",") {
					items = append(items, strings.Trim(strings.TrimSpace(item), `"`))
				}
				return items
			}
		case strings.HasPrefix(trimmed, "- "):
			items = append(items, strings.Trim(strings.TrimPrefix(trimmed, "- "), `"`))
		case strings.HasPrefix(trimmed, "#"):
		default:
			return items
		}
	}
	return items
}

// TestDaemonSetCommand runs the commands of daemonset.yaml's two
// DaemonSets as the kubelet would, on a temporary directory: the fd keeper,
// then the daemon (through host-cgroupns, in keeper mode, with the
// manifest's environment), which mounts and passes the readiness probe
// (which fails before). Deleting the daemon's pod (SIGTERM,
// no preStop hook any more) makes it exit 0 leaving the mount with the
// keeper; the next pod's daemon serves that same mount.
func TestDaemonSetCommand(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	bin := testenv.DaemonBinary(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "lxcfs")
	run := filepath.Join(dir, "run")
	for _, d := range []string{mnt, run} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sub := func(args []string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			a = strings.ReplaceAll(a, "/usr/bin/lxcfs-go", bin)
			a = strings.ReplaceAll(a, "/run/lxcfs-go", run)
			out[i] = strings.ReplaceAll(a, "/var/lib/lxcfs", mnt)
		}
		return out
	}
	keeperCmd := sub(yamlList(t, "daemonset.yaml", "- name: fd-keeper", "command"))
	daemonArgv := sub(yamlList(t, "daemonset.yaml", "- name: lxcfs-go", "command"))
	ready := sub(yamlList(t, "daemonset.yaml", "readinessProbe:", "command"))
	if len(keeperCmd) < 2 || keeperCmd[1] != "fd-keeper" || len(daemonArgv) < 3 || daemonArgv[1] != "host-cgroupns" || len(ready) == 0 {
		t.Fatalf("daemonset.yaml: keeper %q, daemon %q, readiness %q", keeperCmd, daemonArgv, ready)
	}
	probe := func() (string, error) {
		return command(10*time.Second, ready[0], ready[1:]...)
	}
	if out, err := probe(); err == nil {
		t.Errorf("ready before the daemon started: %s", out)
	}
	b, err := os.ReadFile(repo(t, "deploy/kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "- name: LXCFS_GO_FD_HOLDER\n              value: keeper\n") {
		t.Fatal("daemonset.yaml: the daemon does not run with LXCFS_GO_FD_HOLDER=keeper")
	}
	if strings.Contains(string(b), "preStop:") {
		t.Fatal("daemonset.yaml: a preStop hook would end the connection the keeper keeps")
	}

	// A file, not a pipe: Wait would wait for whatever inherited a pipe.
	logPath := filepath.Join(dir, "log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	start := func(name string, args []string, env ...string) (*exec.Cmd, chan error) {
		c := exec.Command(args[0], args[1:]...)
		c.Env = append(os.Environ(), env...)
		c.Stdout, c.Stderr = out, out
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		done, exited := make(chan error, 1), make(chan struct{})
		go func() { done <- c.Wait(); close(exited) }()
		t.Cleanup(func() {
			c.Process.Kill()
			<-exited
		})
		return c, done
	}
	t.Cleanup(func() {
		syscall.Unmount(mnt, syscall.MNT_DETACH)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("keeper and daemon output:\n%s", b)
		}
	})
	start("keeper", keeperCmd)
	deadline := time.Now().Add(5 * time.Second)
	for !fileExists(filepath.Join(run, "lxcfs-go.pid.fd-holder")) {
		if time.Now().After(deadline) {
			t.Fatal("no keeper socket after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	readMeminfo := func(what string) {
		t.Helper()
		res := make(chan error, 1)
		go func() {
			b, err := os.ReadFile(filepath.Join(mnt, "proc/meminfo"))
			if err == nil && memTotal(string(b)) == "" {
				err = fmt.Errorf("no MemTotal in %q", b)
			}
			res <- err
		}()
		select {
		case err := <-res:
			if err != nil {
				t.Fatalf("proc/meminfo %s: %v", what, err)
			}
		case <-time.After(testenv.MountTimeout):
			t.Fatalf("proc/meminfo %s: no answer in %v", what, testenv.MountTimeout)
		}
	}
	waitMounted := func(done chan error) {
		t.Helper()
		deadline := time.Now().Add(testenv.MountTimeout)
		for !fileExists(filepath.Join(mnt, "proc/meminfo")) {
			select {
			case err := <-done:
				t.Fatalf("the daemon exited: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("the daemon did not mount")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	first, done := start("daemon", daemonArgv, "LXCFS_GO_FD_HOLDER=keeper")
	waitMounted(done)
	readMeminfo("through the DaemonSet's command")
	if out, err := probe(); err != nil {
		t.Errorf("the readiness probe fails on a mounted daemon: %v", err)
	} else if !strings.Contains(out, "ready") {
		t.Errorf("readiness probe output %q", out)
	}
	id0, _, _ := testenv.MountInfo(mnt)

	// Pod deletion: SIGTERM, nothing else.
	first.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the daemon exited with %v on SIGTERM; kubelet would log a failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not exit within 10s of SIGTERM")
	}
	if id, _, ok := testenv.MountInfo(mnt); !ok || id != id0 {
		t.Fatalf("after SIGTERM the mount is gone or changed (mounted %v)", ok)
	}

	// The replacement pod.
	_, done = start("next daemon", daemonArgv, "LXCFS_GO_FD_HOLDER=keeper")
	readMeminfo("after the daemon's pod was replaced")
	if _, err := probe(); err != nil {
		t.Errorf("the readiness probe fails on the next daemon: %v", err)
	}
	if id, _, ok := testenv.MountInfo(mnt); !ok || id != id0 {
		t.Errorf("the next daemon serves another mount (mounted %v)", ok)
	}
	select {
	case err := <-done:
		t.Fatalf("the next daemon exited: %v", err)
	default:
	}
}

// TestHostCgroupNS runs `lxcfs-go host-cgroupns` from inside a container's
// cgroup namespace, as the DaemonSet's pod starts the daemon: the program
// it execs must see cgroup paths as the host does (the container's full
// path), where the container alone sees "/".
func TestHostCgroupNS(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	bin := testenv.DaemonBinary(t)
	cg := testenv.NewCgroup(t, testenv.CgroupOptions{})
	c := testenv.StartContainer(t, cg, testenv.ContainerOptions{CgroupNS: true})
	enter := []string{"nsenter", "--target", strconv.Itoa(c.PID), "--cgroup", "--"}

	inside, stderr, err := c.Run(cg, append(enter, "cat", "/proc/self/cgroup")...)
	if err != nil {
		t.Fatalf("cat in the container's cgroup namespace: %v\n%s", err, stderr)
	}
	if strings.Contains(inside, cg.Rel()) {
		t.Fatalf("the container's own view already names %s: the test sees nothing:\n%s", cg.Rel(), inside)
	}

	host, stderr, err := c.Run(cg, append(enter, bin, "host-cgroupns", "--exec", "cat", "/proc/self/cgroup")...)
	if err != nil {
		t.Fatalf("host-cgroupns: %v\n%s", err, stderr)
	}
	// The hierarchies the test cgroup is in (memory, cpu, ...) name it in
	// the host's view; where it is not (pids, freezer), both views say "/".
	if !strings.Contains(host, ":"+cg.Rel()+"\n") {
		t.Errorf("through host-cgroupns /proc/self/cgroup does not name %s:\n%s\n(the container's view:\n%s)", cg.Rel(), host, inside)
	}
}

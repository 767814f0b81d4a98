package e2e

import (
	"bufio"
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
// YAML for the command and preStop lists of deploy/kubernetes.
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

// TestDaemonSetCommand runs the DaemonSet container's command and its
// preStop hook as kubelet would, on a temporary directory: the daemon
// starts in the host's cgroup namespace through nsenter, mounts, and exits
// 0 on SIGTERM after preStop has lazily unmounted it.
func TestDaemonSetCommand(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	bin := testenv.DaemonBinary(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "lxcfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	sub := func(args []string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			a = strings.ReplaceAll(a, "/usr/bin/lxcfs-go", bin)
			a = strings.ReplaceAll(a, "/run/lxcfs-go.pid", filepath.Join(dir, "pid"))
			// In the pod, pid 1 is the node's init; here this test is in the
			// host's cgroup namespace (and some VMs forbid opening pid 1's).
			a = strings.ReplaceAll(a, "/proc/1/ns/", "/proc/"+strconv.Itoa(os.Getpid())+"/ns/")
			out[i] = strings.ReplaceAll(a, "/var/lib/lxcfs", mnt)
		}
		return out
	}
	command := sub(yamlList(t, "daemonset.yaml", "- name: lxcfs-go", "command"))
	preStop := sub(yamlList(t, "daemonset.yaml", "preStop:", "command"))
	if len(command) < 3 || command[0] != "nsenter" || len(preStop) == 0 {
		t.Fatalf("daemonset.yaml: command %q, preStop %q", command, preStop)
	}

	daemon := exec.Command(command[0], command[1:]...)
	var out strings.Builder
	daemon.Stdout, daemon.Stderr = &out, &out
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = daemon.Wait(); close(done) }()
	t.Cleanup(func() {
		daemon.Process.Kill()
		<-done
		syscall.Unmount(mnt, syscall.MNT_DETACH)
		if t.Failed() {
			t.Logf("daemon output:\n%s", out.String())
		}
	})

	deadline := time.Now().Add(testenv.MountTimeout)
	for !fileExists(filepath.Join(mnt, "proc/meminfo")) {
		select {
		case <-done:
			t.Fatalf("the daemon exited: %v", waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not mount")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "proc/meminfo")); err != nil || memTotal(string(b)) == "" {
		t.Errorf("proc/meminfo through the DaemonSet's command: %v %q", err, b)
	}

	// Pod deletion: preStop, then SIGTERM.
	if out, err := exec.Command(preStop[0], preStop[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("preStop %q: %v\n%s", preStop, err, out)
	}
	if fileExists(filepath.Join(mnt, "proc")) {
		t.Error("still mounted after preStop")
	}
	// The daemon notices the unmount and exits by itself; kubelet's SIGTERM
	// then finds it gone or on its way out. (A SIGTERM that lands while it
	// is exiting can end it by the signal: a cosmetic exit code 143.)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the daemon did not exit within 10s of SIGTERM after preStop")
		}
	}
	if waitErr != nil {
		t.Errorf("the daemon exited with %v after preStop; kubelet would log a failure", waitErr)
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

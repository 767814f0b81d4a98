package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ContainerOptions configures StartContainer.
type ContainerOptions struct {
	// CgroupNS gives the init a new cgroup namespace rooted at its
	// cgroup (unshared after it joined the cgroup), as container runtimes
	// do.
	CgroupNS bool
	// MountNS gives the init a new mount namespace (a copy of the test's).
	MountNS bool
	// Child, if set, is a command the init starts in the background just
	// before it execs sleep: a process of the container as a runtime would
	// start one (pid 2 of the namespace, the init's child, in the init's
	// cgroup), which lives until the container is killed.
	Child []string
	// Stdout and Stderr receive the output of the init and of Child (nil:
	// stdout discarded, stderr kept for StartContainer's own failure
	// messages). An *os.File is handed down as it is; any other writer
	// costs a pipe and a copying goroutine per container.
	Stdout, Stderr io.Writer
}

// Container is a process running as pid 1 of a new pid namespace inside a
// cgroup: what lxcfs calls the container's init.
type Container struct {
	t testing.TB
	// PID is the init's pid in the test's (host) pid namespace.
	PID int
	// Started is when the init was started (before it joined its cgroup).
	Started time.Time
	cg      *Cgroup
	proc    *proc
}

// StartContainer starts "sleep infinity" as the init of a new pid
// namespace; the init moves itself into cg before it execs (and starts
// opts.Child, if any). It returns once the init is in cg and runs sleep.
// Cleanup kills it (SIGKILL to a pid namespace's init kills the whole
// namespace).
func StartContainer(t testing.TB, cg *Cgroup, opts ContainerOptions) *Container {
	t.Helper()
	argv := []string{"sleep", "infinity"}
	if len(opts.Child) > 0 {
		// A non-interactive shell starts a background job with SIGINT and
		// SIGQUIT ignored and stdin on /dev/null.
		argv = append([]string{"sh", "-c", `"$@" & exec sleep infinity`, "sh"}, opts.Child...)
	}
	if opts.CgroupNS {
		argv = append([]string{"unshare", "--cgroup", "--"}, argv...)
	}
	full := joinArgv(cg, argv)
	cmd := exec.Command(full[0], full[1:]...)
	var stderr SyncBuffer
	cmd.Stdout, cmd.Stderr = opts.Stdout, &stderr
	if opts.Stderr != nil {
		cmd.Stderr = opts.Stderr
	}
	flags := uintptr(syscall.CLONE_NEWPID)
	if opts.MountNS {
		flags |= syscall.CLONE_NEWNS
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	started := time.Now()
	p, err := cg.tree.start(cmd)
	if err != nil {
		t.Fatalf("testenv: starting container init: %v", err)
	}
	c := &Container{t: t, PID: cmd.Process.Pid, Started: started, cg: cg, proc: p}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			t.Errorf("testenv: container init %d still running 5s after SIGKILL", c.PID)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("testenv: container init exited: %v; stderr: %s", p.err, stderr.String())
		default:
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.PID))
		if strings.TrimSpace(string(comm)) == "sleep" && slices.Contains(cg.Procs(), c.PID) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: container init %d not running sleep in %s after 10s; stderr: %s",
				c.PID, cg.rel, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Cgroup is the cgroup the init was started in.
func (c *Container) Cgroup() *Cgroup { return c.cg }

// nsenter is the prefix that runs a command in the container's pid
// namespace (nsenter forks, so the command is a member, not just its
// children). It keeps the test's mount and cgroup namespaces, so the
// reader sees the test's mounts and can join any test cgroup.
func (c *Container) nsenter() []string {
	return []string{"nsenter", "--target", strconv.Itoa(c.PID), "--pid", "--"}
}

// Run runs argv inside the container's pid namespace, in cgroup cg.
func (c *Container) Run(cg *Cgroup, argv ...string) (stdout, stderr string, err error) {
	return cg.run(c.nsenter(), argv)
}

// Do runs a reader performing ops inside the container's pid namespace,
// in cgroup cg (any test cgroup: the container's own, one of its children
// or an unrelated one).
func (c *Container) Do(cg *Cgroup, ops ...Op) ([]Result, error) {
	return cg.do(c.nsenter(), ops)
}

// ReadFile reads path from a reader in the container's pid namespace, in
// cgroup cg.
func (c *Container) ReadFile(cg *Cgroup, path string) (string, error) {
	return readVia(func(ops ...Op) ([]Result, error) { return c.Do(cg, ops...) }, path)
}

// Kill sends SIGKILL to the init, which kills every process of the
// namespace, unless it has exited already. A member blocked in a FUSE
// request that the server has already read dies only once the server
// answers: wait on Done.
func (c *Container) Kill() {
	select {
	case <-c.proc.done:
	default:
		_ = c.proc.cmd.Process.Kill()
	}
}

// Done is closed once the init has exited and been reaped.
func (c *Container) Done() <-chan struct{} { return c.proc.done }

package realsystemd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/debroot"
)

// Bounds of the machine's life cycle.
const (
	bootTimeout     = 2 * time.Minute
	shutdownTimeout = time.Minute
	commandTimeout  = time.Minute
)

// machineNamePrefix starts the --machine= name of every container the
// harness boots; the stale-run cleanup recognises leftovers by it.
const machineNamePrefix = "lxcfs-go-test-realsystemd-"

// containerPath is PATH for commands run inside the container.
const containerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// machine is a booted container: `systemd-nspawn --boot` of a rootfs, with
// systemd as its PID 1, in a cgroup tree of its own.
type machine struct {
	t    testing.TB
	name string // --machine=, also the container's hostname
	root string // the rootfs, as the host sees it
	cg   *hostCgroup

	nspawn  *exec.Cmd
	exited  chan struct{} // closed when nspawn has exited
	console string        // file with nspawn's output: the container's console

	pid1  int    // the container's systemd, as the host numbers it
	pidNS string // its pid namespace ("pid:[4026532...]")

	// madeRunDir: /run/systemd/nspawn did not exist before this nspawn
	// made it, so shutdown removes it again (if nothing else uses it).
	madeRunDir bool
}

// nspawnRunDir is where nspawn keeps its state on the host.
const nspawnRunDir = "/run/systemd/nspawn"

// machineOptions configures bootMachine.
type machineOptions struct {
	// MemoryLimit, if > 0, limits the container's memory cgroup (which
	// the container's lxcfs-go then shows as MemTotal).
	MemoryLimit int64
}

// bootMachine boots root (a writable tree: see overlayRoot) with
// systemd-nspawn and returns once its systemd reports the boot finished
// ("running", or "degraded", whose failed units are logged). Cleanup
// powers it off, by PID, and removes its cgroups.
//
// How nspawn is run here, and why (the host has no systemd as PID 1 and a
// hybrid cgroup layout):
//
//   - --register=no --keep-unit: with no systemd-machined and no system
//     bus on the host, nspawn must neither register the machine nor ask
//     the host's systemd for a scope unit; it uses the cgroup it was
//     started in, which is ours (hostCgroup), and makes its "supervisor"
//     and "payload" cgroups below it.
//   - the cgroup layout is nspawn's default for this host: hybrid, like the
//     host's (the container's systemd gets its own name=systemd and
//     cgroup2 subtrees, read-only views of the v1 controllers, and a cgroup
//     namespace rooted at our cgroup). SYSTEMD_NSPAWN_UNIFIED_HIERARCHY
//     passes through from the environment to try another.
//   - --bind=/dev/fuse: the container needs the device node to mount FUSE.
//     Nothing else is needed for it: without a service manager on the host
//     nspawn sets up no device cgroup policy, and the container keeps
//     CAP_SYS_ADMIN (nspawn's default capability set has it).
//   - --private-network: the container has only its own loopback, so that
//     nothing in it can touch the host's network.
//   - --link-journal=no --resolv-conf=off --timezone=off: nspawn changes
//     nothing on the host and nothing in the rootfs beyond what it boots.
//   - --console=read-only: the console (the boot messages) goes to a file
//     kept for failure reports; stdin is not a terminal.
func bootMachine(t testing.TB, root string, opts machineOptions) *machine {
	t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	m := &machine{
		t:       t,
		name:    machineNamePrefix + hex.EncodeToString(rnd[:]),
		root:    root,
		cg:      newHostCgroup(t),
		exited:  make(chan struct{}),
		console: filepath.Join(t.TempDir(), "console.log"),
	}
	if opts.MemoryLimit > 0 && !m.cg.setMemoryLimit(opts.MemoryLimit) {
		t.Logf("cannot limit the container's memory here; MemTotal will be the host's")
	}
	console, err := os.Create(m.console)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	argv := joinCgroupArgv(m.cg.procsFiles(""), []string{
		"systemd-nspawn", "--boot", "--directory=" + root, "--machine=" + m.name,
		"--register=no", "--keep-unit", "--private-network", "--bind=/dev/fuse",
		"--link-journal=no", "--resolv-conf=off", "--timezone=off", "--console=read-only",
	})
	m.nspawn = exec.Command(argv[0], argv[1:]...)
	m.nspawn.Env = nspawnEnv()
	m.nspawn.Stdout, m.nspawn.Stderr = console, console
	// Its own process group: a ^C to `go test` reaches the test, whose
	// cleanup powers the machine off, not nspawn directly. Should the test
	// process die without cleaning up, nspawn gets SIGTERM and halts the
	// container; the next run removes what is left (cleanupStaleRuns).
	m.nspawn.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if _, err := os.Stat(nspawnRunDir); errors.Is(err, os.ErrNotExist) {
		m.madeRunDir = true
	}
	started := time.Now()
	if err := m.nspawn.Start(); err != nil {
		t.Fatalf("starting systemd-nspawn: %v", err)
	}
	go func() { _ = m.nspawn.Wait(); close(m.exited) }()
	t.Cleanup(m.shutdown)

	if err := m.findPID1(30 * time.Second); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, m.consoleTail(60))
	}
	state, err := m.waitBooted(bootTimeout)
	if err != nil {
		t.Fatalf("boot: %v\nconsole:\n%s", err, m.consoleTail(60))
	}
	t.Logf("booted %s (nspawn %d, PID 1 = host pid %d) in %v: %s",
		m.name, m.nspawn.Process.Pid, m.pid1, time.Since(started).Round(time.Millisecond), state)
	if state == "degraded" {
		out, _ := m.run(commandTimeout, "systemctl", "--failed", "--no-legend", "--no-pager")
		t.Logf("failed units:\n%s", out)
	}
	return m
}

// nspawnEnv is the environment nspawn runs with: a plain PATH, and the
// SYSTEMD_* variables of the test's environment (SYSTEMD_NSPAWN_*,
// SYSTEMD_LOG_LEVEL) to let whoever runs the tests adjust nspawn. Nothing
// else: a NOTIFY_SOCKET, say, would make nspawn talk to a service manager.
func nspawnEnv() []string {
	env := []string{"PATH=" + containerPath}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SYSTEMD_NSPAWN_") || strings.HasPrefix(kv, "SYSTEMD_LOG_") {
			env = append(env, kv)
		}
	}
	return env
}

// joinCgroupArgv wraps argv in a shell that first writes its own pid into
// each of files (cgroup.procs files) and then execs argv, so that argv
// starts, and stays, inside those cgroups (on v1 there is no way to start a
// process in a cgroup other than moving it).
func joinCgroupArgv(files, argv []string) []string {
	const script = `for f; do
	shift
	[ "$f" = -- ] && break
	echo $$ > "$f" || exit 125
done
exec "$@"`
	full := append([]string{"sh", "-c", script, "sh"}, files...)
	full = append(full, "--")
	return append(full, argv...)
}

// findPID1 waits for the container's init: the child of nspawn that is
// PID 1 of a pid namespace of its own and has exec'd systemd.
func (m *machine) findPID1(timeout time.Duration) error {
	ourNS, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		for _, pid := range childrenOf(m.nspawn.Process.Pid) {
			ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
			if err != nil || ns == ourNS {
				continue
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if strings.TrimSpace(string(comm)) == "systemd" && nsPID(pid) == 1 {
				m.pid1, m.pidNS = pid, ns
				return nil
			}
		}
		select {
		case <-m.exited:
			return fmt.Errorf("systemd-nspawn exited before the container's systemd started: %v", m.nspawn.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no systemd as PID 1 of the container %v after nspawn started", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childrenOf lists the processes whose parent is ppid (the kernel here
// has no /proc/PID/task/TID/children).
func childrenOf(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if statusField(pid, "PPid") == strconv.Itoa(ppid) {
			kids = append(kids, pid)
		}
	}
	return kids
}

// statusField is the value of one line of /proc/PID/status, "" if none.
func statusField(pid int, key string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// nsPID is pid's number in its innermost pid namespace (the last NSpid
// field), 0 if unknown.
func nsPID(pid int) int {
	f := strings.Fields(statusField(pid, "NSpid"))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[len(f)-1])
	return n
}

// hostPID translates a pid of the container's pid namespace (what
// systemctl shows as MainPID) to the host's, so that the test can signal
// it or read its /proc directly, without a process of its own in between.
func (m *machine) hostPID(containerPID int) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || ns != m.pidNS {
			continue
		}
		if nsPID(pid) == containerPID {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process %d in the container", containerPID)
}

// waitBooted waits until the container's systemd says the boot is over
// and returns its state ("running" or "degraded"). Until systemd listens
// on its socket, systemctl fails; that is retried.
func (m *machine) waitBooted(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		out, _ := m.run(time.Until(deadline), "systemctl", "is-system-running", "--wait")
		state := lastLine(out)
		switch state {
		case "running", "degraded":
			return state, nil
		case "maintenance", "stopping":
			return "", fmt.Errorf("systemctl is-system-running: %s", state)
		}
		last = out
		select {
		case <-m.exited:
			return "", fmt.Errorf("systemd-nspawn exited during the boot: %v", m.nspawn.ProcessState)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("boot not finished after %v; last systemctl is-system-running: %q", timeout, last)
}

// command is argv run inside the container: in all its namespaces, its
// root and working directory (nsenter --all), as a member of the tree's
// execCgroup, with a plain environment. The process group is killed when
// ctx ends: nsenter forks to enter the pid namespace, and killing nsenter
// alone would leave its child running.
func (m *machine) command(ctx context.Context, argv ...string) *exec.Cmd {
	full := joinCgroupArgv(m.cg.procsFiles(execCgroup),
		append([]string{"nsenter", "--target", strconv.Itoa(m.pid1), "--all", "--"}, argv...))
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Env = []string{"PATH=" + containerPath, "LANG=C.UTF-8", "TERM=dumb",
		"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "HOME=/root"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs argv inside the container and returns its combined output; the
// error says what ran, how it ended and what it printed.
func (m *machine) run(timeout time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := m.command(ctx, argv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	if err != nil {
		return out.String(), fmt.Errorf("in the container: %s: %w\n%s", strings.Join(argv, " "), err, out.String())
	}
	return out.String(), nil
}

// mustRun is run with commandTimeout that fails the test on error.
func (m *machine) mustRun(argv ...string) string {
	m.t.Helper()
	out, err := m.run(commandTimeout, argv...)
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

// unitProps reads properties of a unit (systemctl show -p ...).
func (m *machine) unitProps(unit string, props ...string) (map[string]string, error) {
	argv := []string{"systemctl", "show", unit}
	for _, p := range props {
		argv = append(argv, "-p", p)
	}
	out, err := m.run(30*time.Second, argv...)
	if err != nil {
		return nil, err
	}
	vals := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vals[k] = v
		}
	}
	return vals, nil
}

// journal is the last lines of the container's journal for unit.
func (m *machine) journal(unit string, lines int) string {
	out, err := m.run(30*time.Second, "journalctl", "--no-pager", "-o", "short-precise",
		"-n", strconv.Itoa(lines), "-u", unit)
	if err != nil {
		return err.Error()
	}
	return out
}

// mountEntry is one line of a mountinfo file.
type mountEntry struct {
	ID, Dev, MountPoint, FSType, Source string
}

// mountinfo reads /proc/PID/mountinfo (a host pid) whole: the mounts of
// that process's mount namespace, with paths as its root sees them.
func mountinfo(pid int) ([]mountEntry, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return nil, err
	}
	var mounts []mountEntry
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+3 {
			return nil, fmt.Errorf("bad mountinfo line %q", line)
		}
		mounts = append(mounts, mountEntry{ID: f[0], Dev: f[2], MountPoint: f[4], FSType: f[sep+1], Source: f[sep+2]})
	}
	return mounts, nil
}

// mountAt is the last (topmost) mount at mountPoint in pid's namespace.
func mountAt(pid int, mountPoint string) (mountEntry, error) {
	mounts, err := mountinfo(pid)
	if err != nil {
		return mountEntry{}, err
	}
	var found *mountEntry
	for i := range mounts {
		if mounts[i].MountPoint == mountPoint {
			found = &mounts[i]
		}
	}
	if found == nil {
		return mountEntry{}, fmt.Errorf("nothing mounted at %s in the mount namespace of pid %d", mountPoint, pid)
	}
	return *found, nil
}

// shutdown powers the container off and waits for nspawn to exit: SIGTERM
// to nspawn (by PID), which asks the container's systemd to halt
// (SIGRTMIN+3) and exits once it has. After shutdownTimeout the
// container's PID 1 and nspawn get SIGKILL (killing a pid namespace's init
// kills every process in it). It then removes nspawn's per-machine
// directory on the host.
func (m *machine) shutdown() {
	t := m.t
	if t.Failed() {
		t.Logf("console of %s (last lines):\n%s", m.name, m.consoleTail(15))
	}
	select {
	case <-m.exited:
	default:
		stopping := time.Now()
		_ = syscall.Kill(m.nspawn.Process.Pid, syscall.SIGTERM)
		select {
		case <-m.exited:
			t.Logf("%s powered off in %v", m.name, time.Since(stopping).Round(time.Millisecond))
		case <-time.After(shutdownTimeout):
			t.Errorf("%s did not power off within %v of SIGTERM to nspawn; killing it\nconsole:\n%s",
				m.name, shutdownTimeout, m.consoleTail(40))
			if m.pid1 > 0 {
				_ = syscall.Kill(m.pid1, syscall.SIGKILL)
			}
			_ = syscall.Kill(m.nspawn.Process.Pid, syscall.SIGKILL)
			select {
			case <-m.exited:
			case <-time.After(10 * time.Second):
				t.Errorf("systemd-nspawn %d still there 10s after SIGKILL", m.nspawn.Process.Pid)
			}
		}
	}
	// nspawn makes /run/systemd/nspawn/propagate/<machine> for mounts
	// added while it runs; where /run is not a tmpfs (as here) it refuses
	// to rm -rf it at exit.
	if err := os.RemoveAll(filepath.Join(nspawnRunDir, "propagate", m.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removing nspawn's propagate directory: %v", err)
	}
	// Its parents are shared with any other nspawn: removed only if this
	// one made them, and only while empty (rmdir fails otherwise).
	if m.madeRunDir {
		for _, d := range []string{"propagate", "locks", ""} {
			_ = os.Remove(filepath.Join(nspawnRunDir, d))
		}
	}
}

// consoleTail is the last n lines of the console.
func (m *machine) consoleTail(n int) string {
	b, _ := os.ReadFile(m.console)
	return debroot.Tail(string(b), n)
}

// lastLine is the last non-empty line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

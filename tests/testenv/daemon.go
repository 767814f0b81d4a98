package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Directory names the mounts get inside their temporary directory;
// CleanupStale recognises leftovers by them.
const (
	daemonMountDir    = "lxcfs-go-mnt"
	referenceMountDir = "lxcfs-ref-mnt"
	pidfileName       = "lxcfs.pid"
)

// FSType is the file system type both lxcfs and lxcfs-go mount with.
const FSType = "fuse.lxcfs"

// Timeouts of the daemon life cycle.
const (
	MountTimeout = 10 * time.Second
	StopTimeout  = 5 * time.Second
)

// Daemon is a running lxcfs-go (or reference lxcfs) mounted on a
// temporary directory.
type Daemon struct {
	// Mnt is the mount point.
	Mnt string
	// PID is the daemon's pid.
	PID int
	// Pidfile is the file given with -p.
	Pidfile string
	// Binary is the executable that runs.
	Binary string
	// Args are the arguments it was started with.
	Args []string

	t      testing.TB
	stderr *SyncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
	err    error

	stopOnce sync.Once
	stopErr  error
}

// Stderr is what the daemon has written to stderr so far.
func (d *Daemon) Stderr() string { return d.stderr.String() }

// Path joins rel to the mount point: d.Path("proc/meminfo").
func (d *Daemon) Path(rel string) string { return filepath.Join(d.Mnt, rel) }

// Exited reports whether the daemon process has exited.
func (d *Daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// ExitErr is the daemon's exit status (nil for 0); only meaningful once
// Exited.
func (d *Daemon) ExitErr() error {
	<-d.done
	return d.err
}

// StartDaemon runs "lxcfs-go -f -p <tmp>/lxcfs.pid args... <tmp>/lxcfs-go-mnt"
// and waits until the mount answers. Cleanup stops it (see Stop). The
// binary is LXCFS_GO_BIN or one built from ./cmd/lxcfs-go.
func StartDaemon(t testing.TB, args ...string) *Daemon {
	t.Helper()
	RequireMountAndCgroups(t)
	return start(t, DaemonBinary(t), daemonMountDir, args)
}

// StartReference runs the reference "lxcfs -f -p <tmp>/lxcfs.pid args...
// <tmp>/lxcfs-ref-mnt" (a private instance; never /var/lib/lxcfs), after
// EnsureReference, and waits until the mount answers.
func StartReference(t testing.TB, args ...string) *Daemon {
	t.Helper()
	RequireMountAndCgroups(t)
	return start(t, EnsureReference(t), referenceMountDir, args)
}

func start(t testing.TB, bin, mntName string, args []string) *Daemon {
	t.Helper()
	dir := t.TempDir()
	d := &Daemon{
		Mnt:     filepath.Join(dir, mntName),
		Pidfile: filepath.Join(dir, pidfileName),
		Binary:  bin,
		t:       t,
		stderr:  &SyncBuffer{},
		done:    make(chan struct{}),
	}
	if err := os.Mkdir(d.Mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if mntName == daemonMountDir && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--fuse-uring") }) {
		// enable_uring is one switch for the whole machine, and the ring
		// tests of other packages running at the same time flip it: a
		// daemon that does not ask for a transport gets the classic loop
		// whatever the switch says, as on a host where it is N.
		args = append([]string{"--fuse-uring=off"}, args...)
	}
	d.Args = append(append([]string{"-f", "-p", d.Pidfile}, args...), d.Mnt)
	d.cmd = exec.Command(bin, d.Args...)
	d.cmd.Stdout = d.stderr
	d.cmd.Stderr = d.stderr
	// If the test binary dies the daemon stops and unmounts; CleanupStale
	// catches what remains.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("testenv: starting %s: %v", bin, err)
	}
	d.PID = d.cmd.Process.Pid
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() { d.cleanup() })
	if err := d.waitMounted(); err != nil {
		t.Fatalf("testenv: %s %s: %v\nstderr:\n%s", filepath.Base(bin), strings.Join(d.Args, " "), err, d.Stderr())
	}
	return d
}

// waitMounted waits until mountinfo has a fuse.lxcfs mount at d.Mnt and
// proc/meminfo below it can be stat'ed.
func (d *Daemon) waitMounted() error {
	deadline := time.Now().Add(MountTimeout)
	var last error
	for {
		if d.Exited() {
			return fmt.Errorf("exited before mounting (%v)", d.err)
		}
		m, ok, err := mountAt(d.Mnt)
		switch {
		case err != nil:
			last = err
		case !ok:
			last = errors.New("not in /proc/self/mountinfo")
		case m.FSType != FSType:
			last = fmt.Errorf("mounted with type %q, want %q", m.FSType, FSType)
		default:
			_, last = os.Stat(d.Path("proc/meminfo"))
			if last == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not mounted after %v: %w", MountTimeout, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Mounted reports whether something is mounted at d.Mnt.
func (d *Daemon) Mounted() bool {
	_, ok, _ := mountAt(d.Mnt)
	return ok
}

// Stop sends SIGTERM and waits up to StopTimeout for the daemon to exit,
// then SIGKILLs it. It returns an error if it had to kill the daemon or
// the daemon exited leaving its mount behind; either way the mount is
// lazily unmounted. Calling Stop again returns the first result.
func (d *Daemon) Stop() error {
	d.stopOnce.Do(func() { d.stopErr = d.stop() })
	return d.stopErr
}

func (d *Daemon) stop() error {
	var errs []error
	if !d.Exited() {
		_ = syscall.Kill(d.PID, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(StopTimeout):
			errs = append(errs, fmt.Errorf("still running %v after SIGTERM; killed", StopTimeout))
			_ = syscall.Kill(d.PID, syscall.SIGKILL)
			<-d.done
		}
	}
	// The daemon unmounts on exit; allow the kernel a moment to finish.
	for i := 0; i < 50 && d.Mounted(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if d.Mounted() {
		errs = append(errs, fmt.Errorf("exited (%v) but %s is still mounted", d.err, d.Mnt))
		if err := unix.Unmount(d.Mnt, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("lazy unmount: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (d *Daemon) cleanup() {
	t := d.t
	if err := d.Stop(); err != nil {
		t.Errorf("testenv: stopping %s: %v", filepath.Base(d.Binary), err)
	}
	out := d.Stderr()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(out, bad) {
			t.Errorf("testenv: %s stderr has %q", filepath.Base(d.Binary), bad)
		}
	}
	if t.Failed() && out != "" {
		t.Logf("%s %s stderr:\n%s", filepath.Base(d.Binary), strings.Join(d.Args, " "), out)
	}
}

// mountAt finds the mount whose mount point is dir in /proc/self/mountinfo
// (the last one, if stacked).
func mountAt(dir string) (Mount, bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Mount{}, false, err
	}
	defer f.Close()
	mounts, err := ParseMountinfo(f)
	if err != nil {
		return Mount{}, false, err
	}
	var found Mount
	ok := false
	for _, m := range mounts {
		if m.MountPoint == dir {
			found, ok = m, true
		}
	}
	return found, ok, nil
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a child's output
// that a test reads while the child runs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// buildDirPrefix starts the name of the temporary directory the daemon is
// built into.
const buildDirPrefix = "lxcfs-go-test-bin-"

// daemonBuild is the binary built once per test process.
var daemonBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// DaemonBinary returns LXCFS_GO_BIN if set, else builds ./cmd/lxcfs-go of
// the enclosing module once per test process (with -race if the tests are
// built with -race) and returns its path. A build failure fails every test
// that needs the daemon, with the compiler's output.
func DaemonBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("LXCFS_GO_BIN"); bin != "" {
		return bin
	}
	daemonBuild.once.Do(func() {
		daemonBuild.path, daemonBuild.err = buildDaemon()
	})
	if daemonBuild.err != nil {
		t.Fatalf("testenv: %v", daemonBuild.err)
	}
	return daemonBuild.path
}

func buildDaemon() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", errors.New("not inside a Go module; set LXCFS_GO_BIN")
	}
	dir, err := os.MkdirTemp("", buildDirPrefix+"*")
	if err != nil {
		return "", err
	}
	daemonBuild.dir = dir
	bin := filepath.Join(dir, "lxcfs-go")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/lxcfs-go")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), root, err, out)
	}
	return bin, nil
}

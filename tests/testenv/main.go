package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// lockFile is held shared by every test process using Main, and taken
// exclusively by CleanupStale: leftovers are only removed when no other
// test process (another package under "go test ./...") may own them.
var lockFile = filepath.Join(os.TempDir(), "lxcfs-go-testenv.lock")

// Main runs the tests of a package that uses testenv; call it from
// TestMain. When the binary was started as a reader (Cgroup.Do), it
// performs the reader's ops and exits instead.
func Main(m *testing.M) {
	if spec, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(runHelper(spec))
	}
	if os.Geteuid() == 0 {
		if err := CleanupStale(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: cleaning up after earlier runs: %v\n", err)
		}
	}
	lock, err := os.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err == nil {
		_ = unix.Flock(int(lock.Fd()), unix.LOCK_SH)
	}
	code := m.Run()
	if daemonBuild.dir != "" {
		os.RemoveAll(daemonBuild.dir)
	}
	if lock != nil {
		lock.Close()
	}
	os.Exit(code)
}

// CleanupStale removes what an earlier, killed test run left behind:
// empty lxcfs-go-test-* cgroups at the root of every hierarchy (it moves
// and kills nothing in them; a non-empty one stays and is reported), and
// fuse.lxcfs mounts under os.TempDir() that the harness made (source
// "lxcfs-go", or the reference's "lxcfs" on a lxcfs-ref-mnt directory),
// after SIGKILLing the daemon recorded in the pidfile next to the mount if
// it is still that daemon, AddTmpfs files and daemon build directories. It does nothing while another test process
// holds the testenv lock.
func CleanupStale() error {
	lock, err := os.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil // another test process is running; its things are not stale
	}
	var errs []error
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	mounts, err := ParseMountinfo(f)
	f.Close()
	if err != nil {
		return err
	}
	tmp := filepath.Clean(os.TempDir()) + "/"
	for _, m := range mounts {
		if m.FSType != FSType || !strings.HasPrefix(m.MountPoint, tmp) {
			continue
		}
		base := filepath.Base(m.MountPoint)
		ours := (m.Source == "lxcfs-go" && base == daemonMountDir) || (m.Source == "lxcfs" && base == referenceMountDir)
		if !ours {
			continue
		}
		killStaleDaemon(m.MountPoint)
		if err := unix.Unmount(m.MountPoint, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.MountPoint, err))
		} else {
			fmt.Fprintf(os.Stderr, "testenv: unmounted stale %s\n", m.MountPoint)
		}
	}
	layout, err := HostLayout()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	roots := map[string]bool{}
	for _, mp := range layout.V1 {
		roots[mp] = true
	}
	if layout.Unified != "" {
		roots[layout.Unified] = true
	}
	for root := range roots {
		entries, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), CgroupPrefix) {
				continue
			}
			dir := filepath.Join(root, e.Name())
			if err := RemoveCgroupTree(dir, 0); err != nil {
				errs = append(errs, fmt.Errorf("stale cgroup: %w", err))
			} else {
				fmt.Fprintf(os.Stderr, "testenv: removed stale cgroup %s\n", dir)
			}
		}
	}
	if stale, err := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*")); err == nil {
		for _, dir := range stale {
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if entries, err := os.ReadDir(shmDir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), CgroupPrefix+"shm-") {
				if err := os.Remove(filepath.Join(shmDir, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// killStaleDaemon SIGKILLs the pid in the pidfile next to mnt if that
// process's command line names mnt (so a reused pid is left alone).
func killStaleDaemon(mnt string) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(mnt), pidfileName))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return
	}
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		if arg == mnt {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			fmt.Fprintf(os.Stderr, "testenv: killed stale daemon %d on %s\n", pid, mnt)
			return
		}
	}
}

package realsystemd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/debroot"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// runLock is held shared by every test process of this package for its
// whole life, and taken exclusively by cleanupStaleRuns: what it finds is
// stale only when no other run may own it.
var runLock *os.File

// cleanupStaleRuns removes what a run that was killed without its cleanups
// (go test's -timeout panic, SIGKILL) left behind: the nspawn processes it
// started (recognised by --machine=lxcfs-go-test-realsystemd-*; each gets
// SIGTERM, which powers its container off, then SIGKILL), overlay mounts
// over the cached rootfs, the cgroup trees lxcfs-go-test-realsystemd-*
// and nspawn's propagate directories of those machines. It reports what it
// removed on stderr and does nothing while another run holds the lock.
func cleanupStaleRuns() {
	if err := os.MkdirAll(debroot.CacheDir, 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(debroot.CacheDir, ".run.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	runLock = f
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_SH)
		return
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_SH) // converts the lock: held until exit

	for _, pid := range staleNspawns() {
		fmt.Fprintf(os.Stderr, "realsystemd: stopping stale systemd-nspawn %d\n", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for testenv.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if mf, err := os.Open("/proc/self/mountinfo"); err == nil {
		mounts, _ := testenv.ParseMountinfo(mf)
		mf.Close()
		for i := len(mounts) - 1; i >= 0; i-- {
			mnt := mounts[i]
			if mnt.FSType == "overlay" && strings.Contains(strings.Join(mnt.SuperOptions, ","), "lowerdir="+debroot.CacheDir+"/") {
				if err := unix.Unmount(mnt.MountPoint, unix.MNT_DETACH); err != nil {
					continue
				}
				fmt.Fprintf(os.Stderr, "realsystemd: unmounted stale overlay %s\n", mnt.MountPoint)
				// The overlay is <TempDir>/<Test...>/001/root (overlayRoot in
				// a t.TempDir): remove that test's temporary directory too.
				top := filepath.Dir(filepath.Dir(mnt.MountPoint))
				if filepath.Dir(top) == filepath.Clean(os.TempDir()) && strings.HasPrefix(filepath.Base(top), "Test") && len(debroot.MountsBelow(top)) == 0 {
					_ = os.RemoveAll(top)
				}
			}
		}
	}
	if layout, err := testenv.HostLayout(); err == nil {
		roots := []string{layout.Unified}
		for _, mp := range layout.V1 {
			roots = append(roots, mp)
		}
		for _, root := range roots {
			dirs, _ := filepath.Glob(filepath.Join(root, testenv.CgroupPrefix+"realsystemd-*"))
			for _, dir := range dirs {
				stale := &hostCgroup{name: filepath.Base(dir), roots: []string{root}}
				if err := stale.remove(10 * time.Second); err != nil {
					fmt.Fprintf(os.Stderr, "realsystemd: stale cgroup %s: %v\n", dir, err)
				} else {
					fmt.Fprintf(os.Stderr, "realsystemd: removed stale cgroup %s\n", dir)
				}
			}
		}
	}
	dirs, _ := filepath.Glob(filepath.Join("/run/systemd/nspawn/propagate", machineNamePrefix+"*"))
	for _, dir := range dirs {
		_ = os.RemoveAll(dir)
	}
}

// staleNspawns lists the systemd-nspawn processes whose command line has
// --machine=lxcfs-go-test-realsystemd-*: only this harness starts those.
func staleNspawns() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) != "systemd-nspawn" {
			continue
		}
		for _, a := range args {
			if strings.HasPrefix(a, "--machine="+machineNamePrefix) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

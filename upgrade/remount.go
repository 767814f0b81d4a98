// Package upgrade heals what a lost FUSE connection broke: containers'
// bind mounts of files below the lxcfs-go mount point that still point at a
// connection that is gone (its daemon was killed with nobody keeping its
// fd, see docs/upgrade.md). Remount finds them through /proc/*/mountinfo,
// enters each container's mount namespace and puts a bind of the live file
// in place of the dead one, so running containers heal without a restart.
package upgrade

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/daemon"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// Dead is a mount of a dead lxcfs-go connection in some mount namespace.
type Dead struct {
	PID int // a process in the namespace
	NS  uint64
	// MountPoint is where it is mounted, as the process sees it; Root is
	// the path below the lxcfs-go mount point it binds ("/proc/meminfo").
	MountPoint string
	Root       string
	// Err is what healing it gave; Gone says the namespace's process
	// exited before it could be entered (nothing left to heal).
	Err  error
	Gone bool
}

// Options configures Remount.
type Options struct {
	// DryRun only finds the dead mounts.
	DryRun bool
	// StatTimeout bounds the check of a mount of another connection; one
	// that does not answer in time is left alone.
	StatTimeout time.Duration
	// Devs are the device numbers ("0:53") of the connections this
	// daemon instance served (MountHistory); only their mounts are
	// healed. Empty: any dead lxcfs-go mount is.
	Devs []string
}

// MountHistory is the file, next to the pidfile, where a daemon records the
// device number of every mount it makes, so that remount heals only mounts
// of this instance (another instance's dead mounts are not ours to replace).
func MountHistory(pidfile string) string { return pidfile + ".mounts" }

// RecordMount adds dev to the history (the last 64 are kept).
func RecordMount(pidfile, dev string) error {
	devs, _ := ReadMountHistory(pidfile)
	devs = append(devs, dev)
	if len(devs) > 64 {
		devs = devs[len(devs)-64:]
	}
	return os.WriteFile(MountHistory(pidfile), []byte(strings.Join(devs, "\n")+"\n"), 0o600)
}

// ReadMountHistory returns the recorded device numbers.
func ReadMountHistory(pidfile string) ([]string, error) {
	b, err := os.ReadFile(MountHistory(pidfile))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// Remount replaces, in every mount namespace, the mounts of dead lxcfs-go
// connections by binds of the same files below live, the mount point of
// the serving daemon.
func Remount(live string, opts Options) ([]Dead, error) {
	if opts.StatTimeout == 0 {
		opts.StatTimeout = 2 * time.Second
	}
	id, ok := daemon.LookupMount(live)
	if !ok {
		return nil, fmt.Errorf("nothing is mounted at %s", live)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(live, &st); err != nil || st.Type != unix.FUSE_SUPER_MAGIC {
		return nil, fmt.Errorf("%s is not a live FUSE mount: %v", live, err)
	}
	live, _ = filepath.Abs(live)
	dead, err := findDead(id.Dev, opts.Devs, opts.StatTimeout)
	if err != nil || opts.DryRun {
		return dead, err
	}
	byNS := map[uint64][]int{}
	var order []uint64
	for i, d := range dead {
		if _, ok := byNS[d.NS]; !ok {
			order = append(order, d.NS)
		}
		byNS[d.NS] = append(byNS[d.NS], i)
	}
	for _, ns := range order {
		idx := byNS[ns]
		ds := make([]*Dead, len(idx))
		for i, j := range idx {
			ds[i] = &dead[j]
		}
		healNS(live, ds)
	}
	var errs []error
	for _, d := range dead {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("pid %d %s: %w", d.PID, d.MountPoint, d.Err))
		}
	}
	return dead, errors.Join(errs...)
}

// findDead lists the mounts, in every mount namespace, of lxcfs-go
// connections other than liveDev that answer ENOTCONN.
func findDead(liveDev string, devs []string, timeout time.Duration) ([]Dead, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	seen := map[uint64]bool{}
	var dead []Dead
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var nst unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/mnt", pid), &nst) != nil || seen[nst.Ino] {
			continue
		}
		mounts, err := hostfs.ReadMountinfo(fmt.Sprintf("/proc/%d/mountinfo", pid))
		if err != nil {
			continue // gone, or a kernel thread
		}
		seen[nst.Ino] = true
		for _, m := range mounts {
			if m.FSType != daemon.MountType || m.Source != daemon.MountSource || m.Dev == liveDev {
				continue
			}
			if len(devs) > 0 && !slices.Contains(devs, m.Dev) {
				continue
			}
			if !notConnected(fmt.Sprintf("/proc/%d/root%s", pid, m.MountPoint), timeout) {
				continue
			}
			dead = append(dead, Dead{PID: pid, NS: nst.Ino, MountPoint: m.MountPoint, Root: m.Root})
		}
	}
	return dead, nil
}

// notConnected reports whether p answers ENOTCONN, giving up (false) after
// timeout: a live connection whose daemon is slow is not dead.
func notConnected(p string, timeout time.Duration) bool {
	res := make(chan error, 1)
	go func() {
		// statfs always asks the daemon; stat may be answered from
		// the kernel's attribute cache.
		var st unix.Statfs_t
		res <- unix.Statfs(p, &st)
	}()
	select {
	case err := <-res:
		return errors.Is(err, unix.ENOTCONN)
	case <-time.After(timeout):
		return false
	}
}

// healNS enters the mount namespace of ds (all in one) on a thread of its
// own and replaces each dead mount by a bind of live+Root. The live files
// are cloned (open_tree) here first, since a bind across namespaces is not
// allowed but attaching a detached clone is. The thread is thrown away
// afterwards: it never returns to the runtime with another namespace.
func healNS(live string, ds []*Dead) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with us
		fail := func(err error) {
			for _, d := range ds {
				if d.Err == nil {
					d.Err = err
				}
			}
		}
		trees := make([]int, len(ds))
		for i, d := range ds {
			fd, err := unix.OpenTree(unix.AT_FDCWD, filepath.Join(live, d.Root),
				unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
			if err != nil {
				d.Err = fmt.Errorf("open_tree %s: %w", filepath.Join(live, d.Root), err)
				trees[i] = -1
				continue
			}
			trees[i] = fd
		}
		defer func() {
			for _, fd := range trees {
				if fd >= 0 {
					unix.Close(fd)
				}
			}
		}()
		pid := ds[0].PID
		gone := func(err error) bool {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
				for _, d := range ds {
					d.Gone = true
				}
				return true
			}
			return false
		}
		nsfd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if !gone(err) {
				fail(err)
			}
			return
		}
		defer unix.Close(nsfd)
		rootfd, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			if !gone(err) {
				fail(err)
			}
			return
		}
		defer unix.Close(rootfd)
		// setns(CLONE_NEWNS) needs a thread whose fs_struct is its own.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			fail(fmt.Errorf("unshare(CLONE_FS): %w", err))
			return
		}
		if err := unix.Setns(nsfd, unix.CLONE_NEWNS); err != nil {
			fail(fmt.Errorf("setns: %w", err))
			return
		}
		// The process's root, which may lie below the namespace's.
		if err := unix.Fchdir(rootfd); err != nil {
			fail(err)
			return
		}
		if err := unix.Chroot("."); err != nil {
			fail(fmt.Errorf("chroot: %w", err))
			return
		}
		for i, d := range ds {
			if trees[i] < 0 {
				continue
			}
			d.Err = replaceMount(trees[i], d.MountPoint)
		}
	}()
	<-done
}

// moveMountBeneath is MOVE_MOUNT_BENEATH (Linux 6.5): attach a mount beneath
// the one on top of the target path.
const moveMountBeneath = 0x200

// replaceMount puts the live mount tree in place of the dead mount at mp
// with no moment in between where mp shows what lies beneath the dead
// mount: for a file bound over /proc/meminfo that is the host's own file.
// The live copy goes beneath the dead mount, which then comes off the top
// (Linux 6.5+). Older kernels cannot attach beneath: the live copy goes on
// top, and the dead mount stays under it, unreachable, until the namespace
// ends (detaching it first, as before, showed the host's file meanwhile).
func replaceMount(tree int, mp string) error {
	err := unix.MoveMount(tree, "", unix.AT_FDCWD, mp, unix.MOVE_MOUNT_F_EMPTY_PATH|moveMountBeneath)
	if err == nil {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detach the dead mount above the live one: %w", err)
		}
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("move_mount beneath: %w", err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, mp, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// Mount names as `mount` shows them: the source says it is us, the type
// stays fuse.lxcfs because scripts and tools (the LXC hook among them) look
// for it.
const (
	MountSource = "lxcfs-go"
	MountType   = "fuse.lxcfs"
)

// MountOptions configure Mount.
type MountOptions struct {
	// Extra is lxcfs's -o list, the options that reach mount(2). Options
	// lxcfs drops (allow_other, direct_io, entry_timeout, attr_timeout,
	// nonempty) are dropped here too; generic ones (ro, noexec, ...)
	// become mount flags; FUSE ones (default_permissions, max_read,
	// blksize) go to the kernel; fsname and subtype rename the mount.
	// Anything else is an error.
	Extra []string
	// Server configures the server of the new connection.
	Server fs.ServerOptions
}

// Mount mounts fsys on dir, answers the kernel's INIT and starts serving
// (fs.Serve). It returns once the mount is usable; on error nothing stays
// mounted.
func Mount(dir string, fsys fuse.RawFileSystem, opts MountOptions) (*fs.Server, error) {
	dev, err := mount(dir, opts)
	if err != nil {
		return nil, err
	}
	s, err := fs.Serve(dir, dev, fsys, opts.Server)
	if err != nil {
		dev.Close()
		Unmount(dir)
		return nil, err
	}
	return s, nil
}

type mountArgs struct {
	source, fstype string
	flags          uintptr
	data           []string
}

// ParseMountOptions turns lxcfs -o options into mount(2) arguments.
func parseMountOptions(extra []string) (mountArgs, error) {
	a := mountArgs{source: MountSource, fstype: MountType, flags: unix.MS_NOSUID | unix.MS_NODEV}
	flagOpts := map[string]uintptr{
		"ro": unix.MS_RDONLY, "noexec": unix.MS_NOEXEC, "nosuid": unix.MS_NOSUID,
		"nodev": unix.MS_NODEV, "noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME,
		"relatime": unix.MS_RELATIME, "sync": unix.MS_SYNCHRONOUS, "dirsync": unix.MS_DIRSYNC,
	}
	for _, o := range extra {
		o = strings.TrimSpace(o)
		key, val, _ := strings.Cut(o, "=")
		switch {
		case o == "" || o == "rw" || o == "allow_other" || o == "direct_io" || o == "nonempty" ||
			strings.HasPrefix(o, "entry_timeout") || strings.HasPrefix(o, "attr_timeout"):
			// lxcfs drops these too: we always set allow_other and direct
			// I/O, and choose the timeouts ourselves.
		case flagOpts[o] != 0:
			a.flags |= flagOpts[o]
		case o == "default_permissions":
			a.data = append(a.data, o)
		case key == "max_read" || key == "blksize":
			if _, err := strconv.ParseUint(val, 10, 32); err != nil {
				return a, fmt.Errorf("-o %s: not a number", o)
			}
			if key == "max_read" {
				return a, fmt.Errorf("-o %s: max_read is fixed at %d", o, fs.MaxRead)
			}
			a.data = append(a.data, o)
		case key == "fsname" && val != "":
			a.source = val
		case key == "subtype" && val != "":
			a.fstype = "fuse." + val
		default:
			return a, fmt.Errorf("-o %s: unsupported mount option", o)
		}
	}
	return a, nil
}

// mount opens /dev/fuse and mounts a FUSE filesystem on dir whose requests
// arrive on the returned fd. The kernel sends INIT next; the caller serves
// it.
func mount(dir string, opts MountOptions) (*os.File, error) {
	args, err := parseMountOptions(opts.Extra)
	if err != nil {
		return nil, err
	}
	if err := checkMountpoint(dir); err != nil {
		return nil, err
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/fuse: %w", err)
	}
	data := append([]string{
		"fd=" + strconv.Itoa(fd),
		"rootmode=40000",
		"user_id=0",
		"group_id=0",
		"allow_other",
		"max_read=" + strconv.Itoa(fs.MaxRead),
	}, args.data...)
	if err := unix.Mount(args.source, dir, args.fstype, args.flags, strings.Join(data, ",")); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount %s on %s: %w", args.fstype, dir, err)
	}
	return os.NewFile(uintptr(fd), "/dev/fuse"), nil
}

// checkMountpoint refuses what mount(2) would accept but users would not
// want: a non-directory, or a directory a live FUSE filesystem is mounted
// on (another lxcfs). A FUSE mount left by a crashed daemon (ENOTCONN) is
// detached first, so that a restart recovers it. Another kind of mount is
// fine to mount over: a Kubernetes hostPath volume is always a bind mount
// of the host's directory inside the daemon's pod.
// mountinfo is read before the directory is touched: a stat of a FUSE
// mount whose daemon is gone would wait for one.
func checkMountpoint(dir string) error {
	if m, ok := mountedOn(dir); ok && strings.Contains(m, "fuse") {
		if !deadFUSE(dir) {
			return fmt.Errorf("mountpoint %s: busy: %s", dir, m)
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("mountpoint %s: stale FUSE mount that cannot be detached: %w", dir, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("mountpoint %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("mountpoint %s: not a directory", dir)
	}
	return nil
}

// deadFUSE reports whether a FUSE filesystem is mounted at dir whose
// connection is gone. statfs(2) always reaches the daemon, unlike stat(2);
// a connection that does not answer within a second (alive, its daemon
// busy or stopped) is not dead.
func deadFUSE(dir string) bool {
	if m, ok := mountedOn(dir); !ok || !strings.Contains(m, "fuse") {
		return false
	}
	res := make(chan error, 1)
	go func() {
		var st unix.Statfs_t
		res <- unix.Statfs(dir, &st)
	}()
	select {
	case err := <-res:
		return DeadConn(err)
	case <-time.After(time.Second):
		return false
	}
}

// DeadConn reports whether err from a file system call says the FUSE
// connection is gone: ENOTCONN for requests made after it ended, and
// ECONNABORTED for one that was waiting when it was aborted (the last
// holder of the connection closed it, or someone wrote to the fusectl
// abort file).
func DeadConn(err error) bool {
	return errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECONNABORTED)
}

// mountedOn reports the mount (type and source) at dir, if any: the last
// one, which is on top when mounts are stacked.
func mountedOn(dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	// The parent only: dir may be a FUSE mount nobody serves.
	if real, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(real, filepath.Base(abs))
	}
	mounts, err := hostfs.ReadMountinfo("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	desc, found := "", false
	for _, m := range mounts {
		if m.MountPoint == abs {
			desc, found = m.FSType+" from "+m.Source+" is already mounted there", true
		}
	}
	return desc, found
}

// Unmount detaches the filesystem at dir. Containers' bind mounts keep a
// plain umount busy, so it falls back to a lazy detach.
func Unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if err == nil || errors.Is(err, unix.EINVAL) {
		return nil
	}
	if derr := unix.Unmount(dir, unix.MNT_DETACH); derr != nil && !errors.Is(derr, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", dir, derr)
	}
	return nil
}

// LookupMount returns the identity of the mount at dir from
// /proc/self/mountinfo (the last one, if stacked), without touching dir.
func LookupMount(dir string) (MountID, bool) {
	id := MountID{Dir: dir}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return id, false
	}
	// Resolve the parent only: dir itself may be a FUSE mount nobody
	// serves yet, where a stat would wait.
	if real, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(real, filepath.Base(abs))
	}
	mounts, err := hostfs.ReadMountinfo("/proc/self/mountinfo")
	if err != nil {
		return id, false
	}
	ok := false
	for _, m := range mounts {
		if m.MountPoint == abs {
			id.Dev, ok = m.Dev, true
		}
	}
	return id, ok
}

// unmountServer unmounts the filesystem s serves and waits up to timeout
// for its readers to see the connection end (fs.Server.Settle).
func unmountServer(s *fs.Server, timeout time.Duration) error {
	err := Unmount(s.Dir())
	s.Settle(timeout)
	return err
}

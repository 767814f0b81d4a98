package ocihook

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Result says what became of one Bind.
type Result struct {
	Bind
	// Skipped is why the bind was not made ("" when it was).
	Skipped string
}

// Apply makes binds in the mount namespace of process pid, whose rootfs is at
// root in that namespace ("/" once it has pivoted). Targets the rootfs lacks
// and targets that are already mount points are skipped.
//
// The sources are cloned here, in the caller's namespace, so they need not be
// visible in the container's. The clones are attached from one locked thread
// that leaves the caller's file system context (unshare CLONE_FS) and enters
// the container's mount namespace; that thread exits with the goroutine and
// never runs other Go code.
func Apply(pid int, root string, binds []Bind) ([]Result, error) {
	trees := make([]int, len(binds))
	for i := range trees {
		trees[i] = -1
	}
	defer func() {
		for _, fd := range trees {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	for i, b := range binds {
		fd, err := unix.OpenTree(unix.AT_FDCWD, b.Source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return nil, kernelErr("open_tree "+b.Source, err)
		}
		trees[i] = fd
		if b.ReadOnly {
			attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
			if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
				return nil, kernelErr("mount_setattr "+b.Source, err)
			}
		}
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return nil, fmt.Errorf("container init %d: %w", pid, err)
	}
	defer ns.Close()

	type outcome struct {
		results []Result
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		// Never unlocked: the thread is dropped when this goroutine ends.
		runtime.LockOSThread()
		results, err := attach(int(ns.Fd()), root, binds, trees)
		done <- outcome{results, err}
	}()
	o := <-done
	return o.results, o.err
}

// attach runs on a locked thread that it moves into another mount namespace.
func attach(nsfd int, root string, binds []Bind, trees []int) ([]Result, error) {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return nil, fmt.Errorf("unshare CLONE_FS: %w", err)
	}
	if err := unix.Setns(nsfd, unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("enter the container's mount namespace: %w", err)
	}
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the rootfs %s in the container's mount namespace: %w", root, err)
	}
	defer unix.Close(rootfd)

	results := make([]Result, 0, len(binds))
	for i, b := range binds {
		r := Result{Bind: b}
		r.Skipped, err = attachOne(rootfd, b.Target, trees[i])
		if err != nil {
			return results, fmt.Errorf("bind %s over %s: %w", b.Source, b.Target, err)
		}
		results = append(results, r)
	}
	return results, nil
}

// attachOne attaches the detached mount tree over target, beneath rootfd.
// It returns why it skipped the target, or "".
func attachOne(rootfd int, target string, tree int) (string, error) {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(rootfd, target, &how)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return "the rootfs has no /" + target, nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return "/" + target + " is or goes through a symbolic link", nil
	case err != nil:
		return "", kernelErr("openat2", err)
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_TYPE, &st); err != nil {
		return "", fmt.Errorf("statx: %w", err)
	}
	if st.Attributes_mask&st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return "/" + target + " is already a mount point", nil
	}
	err = unix.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return "", kernelErr("move_mount", err)
	}
	return "", nil
}

// kernelErr names the kernel requirement when a system call is missing.
func kernelErr(what string, err error) error {
	if errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("%s: %w (the OCI hook needs Linux 5.12 or later; use the config.json mounts instead)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

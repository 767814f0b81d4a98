package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

const unmountUsage = `Usage: lxcfs-go unmount [MOUNTPOINT]

Lazily unmounts (umount -l) the lxcfs-go FUSE mount at MOUNTPOINT (default
/var/lib/lxcfs), so that containers created afterwards fail to bind its files
instead of binding a dead mount. Only a FUSE mount is taken off: when the
topmost mount there is anything else (in a pod, the hostPath volume under the
daemon's mount), it says so and exits 0, so running it twice is harmless.
For Kubernetes preStop hooks (deploy/kubernetes/daemonset.yaml).
`

func unmountMain(args []string, stdout, stderr io.Writer) int {
	mnt := "/var/lib/lxcfs"
	switch {
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help"):
		fmt.Fprint(stdout, unmountUsage)
		return 0
	case len(args) == 1 && !strings.HasPrefix(args[0], "-"):
		mnt = args[0]
	case len(args) != 0:
		fmt.Fprintf(stderr, "lxcfs-go unmount: want one mount point, got %q\n%s", args, unmountUsage)
		return 2
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		fmt.Fprintf(stderr, "lxcfs-go unmount: %v\n", err)
		return 1
	}
	mounts, err := hostfs.ParseMountinfo(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "lxcfs-go unmount: %v\n", err)
		return 1
	}
	abs, err := mountPath(mnt)
	if err != nil {
		fmt.Fprintf(stderr, "lxcfs-go unmount: %s: %v\n", mnt, err)
		return 1
	}
	top, ok := topMount(mounts, abs)
	switch {
	case !ok:
		fmt.Fprintf(stdout, "lxcfs-go unmount: nothing is mounted at %s\n", abs)
		return 0
	case !strings.HasPrefix(top.FSType, "fuse"):
		fmt.Fprintf(stdout, "lxcfs-go unmount: the mount at %s is %s, not FUSE: left alone\n", abs, top.FSType)
		return 0
	}
	// Lazy: the daemon may be wedged, and containers' binds keep it busy.
	if err := unix.Unmount(abs, unix.MNT_DETACH); err != nil {
		fmt.Fprintf(stderr, "lxcfs-go unmount: %s: %v\n", abs, err)
		return 1
	}
	fmt.Fprintf(stdout, "lxcfs-go unmount: unmounted %s (%s)\n", abs, top.FSType)
	return 0
}

// mountPath is dir as mountinfo shows it: absolute, with the symbolic
// links of its parents resolved. dir itself is not touched: a stat of a
// wedged FUSE mount would wait for ever.
func mountPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, filepath.Base(abs)), nil
}

// topMount is the mount seen at dir: of those mounted there, the one no
// other is mounted on.
func topMount(mounts []hostfs.Mount, dir string) (hostfs.Mount, bool) {
	var at []hostfs.Mount
	for _, m := range mounts {
		if m.MountPoint == dir {
			at = append(at, m)
		}
	}
	for _, m := range at {
		covered := false
		for _, o := range at {
			covered = covered || o.ParentID == m.MountID
		}
		if !covered {
			return m, true
		}
	}
	return hostfs.Mount{}, false
}

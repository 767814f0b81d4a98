package fs

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Mounting is the daemon package's (daemon.Mount), and it imports this one,
// so these tests mount with a copy of the few lines that matter: mount(2) on
// a fresh /dev/fuse fd with lxcfs-go's fixed options, then Serve.

// testMount mounts f on dir and serves it; on error nothing stays mounted.
func testMount(dir string, f fuse.RawFileSystem, opts ServerOptions) (*Server, error) {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/fuse: %w", err)
	}
	data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=%d", fd, MaxRead)
	if err := unix.Mount("lxcfs-go", dir, "fuse.lxcfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount on %s: %w", dir, err)
	}
	dev := os.NewFile(uintptr(fd), "/dev/fuse")
	s, err := Serve(dir, dev, f, opts)
	if err != nil {
		dev.Close()
		unmountDir(dir)
		return nil, err
	}
	return s, nil
}

// testUnmount unmounts what s serves and waits for its readers.
func testUnmount(s *Server) error {
	err := unmountDir(s.Dir())
	s.Settle(2 * time.Second)
	return err
}

// unmountDir unmounts dir, lazily if bind mounts keep it busy.
func unmountDir(dir string) error {
	err := unix.Unmount(dir, 0)
	if err == nil || errors.Is(err, unix.EINVAL) {
		return nil
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

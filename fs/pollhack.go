package fs

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel asks a FUSE server whether a file can be polled (FUSE_POLL)
// whenever someone adds it to an epoll set, and Go's os.Open does that for
// every file it opens. A Go process that opens files on its own mount (tests,
// tools built on this package) can then deadlock: the thread in epoll_ctl
// waits for our reply inside the runtime, a garbage collection waits for
// that thread, and our readers wait for the collection. Answering one POLL
// with ENOSYS right after mounting makes the kernel stop asking for the
// connection's whole life (fc->no_poll). go-fuse's ProtocolServer answers
// POLL for its hack file, ".go-fuse-epoll-hack" in the root, with ENOSYS.
//
// Under --enable-psi-poll POLL is wanted, so nothing is done.

// pollWanter is implemented by filesystems that answer POLL themselves.
type pollWanter interface {
	wantsPoll() bool
}

func (fs *FS) wantsPoll() bool {
	_, ok := fs.psiEnabled()
	return ok
}

const pollHackName = ".go-fuse-epoll-hack"

// disablePoll makes the kernel stop sending POLL for the mount at dir. It
// uses raw system calls, which the Go runtime treats as blocking, so no
// collection waits on them.
func disablePoll(dir string) error {
	fd, err := unix.Open(dir+"/"+pollHackName, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(ep)
	// The kernel sends POLL here and waits for our ENOSYS.
	epollAdd(ep, fd)
	return nil
}

// epollAdd adds fd to the epoll set ep with a system call the Go scheduler
// knows may block. x/sys's EpollCtl is a raw system call: a garbage
// collection would wait for this thread while our readers, which must answer
// the POLL it sends, are already stopped.
func epollAdd(ep, fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	_, _, errno := unix.Syscall6(unix.SYS_EPOLL_CTL, uintptr(ep), unix.EPOLL_CTL_ADD, uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

package fs

// PSI triggers and poll(2) on proc/pressure/* (--enable-psi-poll).
//
// A process opens proc/pressure/<res> for writing and writes a trigger
// ("some 150000 1000000"): we open the pressure file of its container's
// cgroup (the host's /proc/pressure file where it has none), write the
// trigger there and keep that fd with the handle, so the kernel's trigger
// lives as long as the handle. poll(2) on the FUSE file then reports the
// real file's events:
//
//   - FUSE_POLL arrives: go-fuse's ProtocolServer answers every POLL with
//     ENOSYS (after which the kernel never polls the connection again), so
//     Server.serveOne hands POLL to Server.poll first, and the filesystem's
//     PollFile answers it.
//   - A handle with a trigger: an event already seen is returned (POLLPRI);
//     otherwise, when the kernel asks to be notified
//     (FUSE_POLL_SCHEDULE_NOTIFY), one goroutine per handle blocks in
//     poll(2) on the trigger fd and, on an event, remembers it and sends
//     FUSE_NOTIFY_POLL with the kernel's handle; the kernel then polls again
//     and gets POLLPRI. Events are remembered because the kernel's PSI poll
//     clears an event as it reports it.
//   - A pressure handle without a trigger gets what the real file gives:
//     POLLIN|POLLOUT|POLLRDNORM|POLLWRNORM|POLLERR|POLLPRI; other files the
//     default mask.
//   - Without --enable-psi-poll POLL is left to go-fuse (ENOSYS), as lxcfs
//     does.
//
// Trigger writes follow lxcfs 7.0: one per open file (EBUSY after, checked
// first, as the kernel does), the first only at offset 0, at most 32 bytes, "some|full <threshold_us> <window_us>"
// with window 1..10000000 (a window that is not a multiple of 2 s becomes
// 2 s, the kernel's rule for unprivileged triggers, since the daemon writes
// as root for callers that may not be) and threshold 1..window.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
	"golang.org/x/sys/unix"
)

// psiSource is what Content implements for --enable-psi-poll
// (*content.Source does).
type psiSource interface {
	PSIPoll() bool
	PressureFile(f vfiles.File, tid int) (string, error)
}

// psiHandle is a pressure file opened for writing.
type psiHandle struct {
	mu      sync.Mutex
	fd      int  // the cgroup pressure file with our trigger; -1 before the write
	pending bool // an event the waiter saw and no POLL has reported yet
	waiting bool // a waiter goroutine is blocked in poll(2)
	wake    int  // eventfd that ends the waiter at release
	closed  bool
}

// psiEnabled reports whether --enable-psi-poll is on.
func (fs *FS) psiEnabled() (psiSource, bool) {
	p, ok := fs.src.(psiSource)
	return p, ok && p.PSIPoll()
}

// psiOpen opens a pressure file for writing a trigger.
func (fs *FS) psiOpen(n *node, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if _, ok := fs.psiEnabled(); !ok || in.Flags&unix.O_TRUNC != 0 {
		return fuse.EACCES
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return errnoOf(err)
	}
	out.Fh = fs.addHandle(&handle{node: n, openPID: int(in.Caller.Pid), psi: &psiHandle{fd: -1, wake: wake}})
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

// ParsePSITrigger checks a trigger as lxcfs 7.0 does and returns the text
// to write to the cgroup file, NUL included.
func ParsePSITrigger(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, unix.EINVAL
	}
	if len(data) > 32 {
		data = data[:32]
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}
	f := bytes.Fields(data)
	if len(f) != 3 || (string(f[0]) != "some" && string(f[0]) != "full") {
		return nil, unix.EINVAL
	}
	threshold, err1 := strconv.ParseUint(string(f[1]), 10, 32)
	window, err2 := strconv.ParseUint(string(f[2]), 10, 32)
	if err1 != nil || err2 != nil || window < 1 || window > 10_000_000 {
		return nil, unix.EINVAL
	}
	if window%2_000_000 != 0 {
		window = 2_000_000
	}
	if threshold < 1 || threshold > window {
		return nil, unix.EINVAL
	}
	return fmt.Appendf(nil, "%s %d %d\x00", f[0], threshold, window), nil
}

// psiWrite installs the trigger on the container's pressure file.
func (fs *FS) psiWrite(h *handle, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	src, ok := fs.psiEnabled()
	if !ok {
		return 0, fuse.EINVAL
	}
	p := h.psi
	p.mu.Lock()
	defer p.mu.Unlock()
	// One trigger per open file, as the kernel's pressure files: EBUSY
	// whatever the offset (a second write(2) comes at the first one's end).
	if p.fd >= 0 {
		return 0, fuse.Status(unix.EBUSY)
	}
	if in.Offset != 0 {
		return 0, fuse.EINVAL
	}
	trigger, err := ParsePSITrigger(data)
	if err != nil {
		return 0, errnoOf(err)
	}
	pid := int(in.Caller.Pid)
	if pid == 0 {
		pid = h.openPID
	}
	name, err := src.PressureFile(h.node.file, pid)
	if err != nil {
		return 0, errnoOf(err)
	}
	fd, err := unix.Open(name, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		fs.log.Debug("psi trigger: open", "file", name, "err", err)
		return 0, fuse.EIO
	}
	if _, err := unix.Write(fd, trigger); err != nil {
		unix.Close(fd)
		return 0, errnoOf(err)
	}
	p.fd = fd
	return uint32(len(data)), fuse.OK
}

// closePSIHandle closes the trigger and ends the waiter.
func closePSIHandle(h *handle) {
	if h == nil || h.psi == nil {
		return
	}
	p := h.psi
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(p.wake, one[:])
	if !p.waiting {
		p.closeFDs()
	}
}

// closeFDs closes the trigger and the eventfd; p.mu is held.
func (p *psiHandle) closeFDs() {
	if p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
	if p.wake >= 0 {
		unix.Close(p.wake)
		p.wake = -1
	}
}

// Poll masks (include/uapi/linux/eventpoll.h; DEFAULT_POLLMASK).
const (
	pollRDNorm         = 0x40  // POLLRDNORM (asm-generic/poll.h)
	pollWRNorm         = 0x100 // POLLWRNORM
	defaultPollMask    = unix.POLLIN | unix.POLLOUT | pollRDNorm | pollWRNorm
	pollScheduleNotify = 1 // FUSE_POLL_SCHEDULE_NOTIFY
)

// PollFile answers FUSE_POLL for handle fh. handled is false when
// --enable-psi-poll is off: the caller then lets go-fuse answer ENOSYS.
// notify sends FUSE_NOTIFY_POLL for the kernel's poll handle kh.
func (fs *FS) PollFile(fh, kh uint64, flags, events uint32, notify func(kh uint64)) (revents uint32, handled bool) {
	if _, ok := fs.psiEnabled(); !ok {
		return 0, false
	}
	h := fs.handle(fh)
	if h == nil || h.node == nil || h.node.kind != kindFile || !h.node.file.Pressure() {
		return defaultPollMask, true
	}
	p := h.psi
	if p == nil {
		return defaultPollMask | unix.POLLERR | unix.POLLPRI, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 || p.closed {
		return defaultPollMask | unix.POLLERR | unix.POLLPRI, true
	}
	if p.pending {
		p.pending = false
		return unix.POLLPRI, true
	}
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLPRI}}
	if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents != 0 {
		return uint32(fds[0].Revents), true
	}
	if flags&pollScheduleNotify != 0 && !p.waiting {
		p.waiting = true
		go p.wait(kh, notify, fs)
	}
	return 0, true
}

// wait blocks until the trigger fires or the handle is released.
func (p *psiHandle) wait(kh uint64, notify func(uint64), fs *FS) {
	p.mu.Lock()
	fd, wake := p.fd, p.wake
	p.mu.Unlock()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}, {Fd: int32(wake), Events: unix.POLLIN}}
	var err error
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		_, err = unix.Poll(fds, -1)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	p.mu.Lock()
	p.waiting = false
	if p.closed {
		p.closeFDs()
		p.mu.Unlock()
		return
	}
	fired := err == nil && fds[0].Revents != 0
	if fired {
		p.pending = p.pending || fds[0].Revents&unix.POLLPRI != 0
	}
	p.mu.Unlock()
	if err != nil {
		fs.log.Debug("psi trigger: poll", "err", err)
	}
	notify(kh)
}

// Server side: FUSE_POLL and FUSE_NOTIFY_POLL.

const (
	opPoll         = 40 // FUSE_POLL
	notifyPollCode = 1  // FUSE_NOTIFY_POLL
	inHeaderSize   = 40 // struct fuse_in_header
	outHeaderSize  = 16 // struct fuse_out_header
	pollInSize     = 24 // struct fuse_poll_in
	pollOutSize    = 8  // struct fuse_poll_out
	notifyPollSize = 8  // struct fuse_notify_poll_wakeup_out
)

// filePoller is the part of the filesystem that answers POLL (*FS).
type filePoller interface {
	PollFile(fh, kh uint64, flags, events uint32, notify func(kh uint64)) (revents uint32, handled bool)
}

// poll answers a FUSE_POLL request in in, writing the reply to out. ok is
// false for any other request, or when the filesystem leaves POLL to
// go-fuse.
func (s *Server) poll(in, out []byte) (w int, st fuse.Status, ok bool) {
	if len(in) < inHeaderSize+pollInSize || binary.NativeEndian.Uint32(in[4:]) != opPoll {
		return 0, fuse.OK, false
	}
	s.polls.Add(1)
	p, isPoller := s.fs.(filePoller)
	if !isPoller {
		return 0, fuse.OK, false
	}
	unique := binary.NativeEndian.Uint64(in[8:])
	body := in[inHeaderSize:]
	fh := binary.NativeEndian.Uint64(body[0:])
	kh := binary.NativeEndian.Uint64(body[8:])
	flags := binary.NativeEndian.Uint32(body[16:])
	events := binary.NativeEndian.Uint32(body[20:])
	revents, handled := p.PollFile(fh, kh, flags, events, s.notifyPoll)
	if !handled {
		return 0, fuse.OK, false
	}
	n := outHeaderSize + pollOutSize
	clear(out[:n])
	binary.NativeEndian.PutUint32(out[0:], uint32(n))
	binary.NativeEndian.PutUint64(out[8:], unique)
	binary.NativeEndian.PutUint32(out[outHeaderSize:], revents)
	return n, fuse.OK, true
}

// notifyPoll sends FUSE_NOTIFY_POLL for the kernel's poll handle kh.
func (s *Server) notifyPoll(kh uint64) {
	var b [outHeaderSize + notifyPollSize]byte
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint32(b[4:], uint32(notifyPollCode)) // error field carries the notify code
	binary.NativeEndian.PutUint64(b[outHeaderSize:], kh)
	if _, err := unix.Write(int(s.dev.Fd()), b[:]); err != nil {
		s.log.Debug("FUSE_NOTIFY_POLL", "err", err)
	}
}

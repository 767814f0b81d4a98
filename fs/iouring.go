package fs

// A minimal io_uring: just what the FUSE ring transport (ring.go) needs,
// written on golang.org/x/sys/unix system calls so that the binary stays
// static (no liburing, no cgo). One ring belongs to one locked OS thread
// (IORING_SETUP_SINGLE_ISSUER); submission entries are 128 bytes
// (IORING_SETUP_SQE128), the size FUSE's uring commands need.

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	ioringSetupSQE128       = 1 << 10
	ioringSetupCoopTaskrun  = 1 << 8
	ioringSetupSingleIssuer = 1 << 12

	ioringFeatSingleMmap = 1 << 0

	ioringEnterGetevents = 1 << 0

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringOpNop      = 0
	ioringOpRead     = 22
	ioringOpURingCmd = 46

	sqeSize = 128
	cqeSize = 16
)

// ioURingParams is struct io_uring_params.
type ioURingParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

// ioURing is one io_uring instance. Not safe for concurrent use: only the
// thread that created it submits (SINGLE_ISSUER).
type ioURing struct {
	fd              int
	ringMem, sqeMem []byte
	sqHead, sqTail  *uint32
	sqMask          uint32
	sqArray         unsafe.Pointer
	cqHead, cqTail  *uint32
	cqMask          uint32
	cqes            unsafe.Pointer
	sqes            unsafe.Pointer
	// pending counts SQEs filled and not yet submitted.
	pending uint32
	entries uint32
}

var errNoURing = errors.New("io_uring is not available")

func newIOURing(entries uint32) (*ioURing, error) {
	var p ioURingParams
	p.flags = ioringSetupSQE128 | ioringSetupSingleIssuer | ioringSetupCoopTaskrun
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		if errno == unix.ENOSYS || errno == unix.EPERM {
			return nil, fmt.Errorf("%w: io_uring_setup: %v", errNoURing, errno)
		}
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &ioURing{fd: int(fd), entries: p.sqEntries}
	unix.CloseOnExec(r.fd)
	if p.features&ioringFeatSingleMmap == 0 {
		r.close()
		return nil, fmt.Errorf("%w: kernel lacks IORING_FEAT_SINGLE_MMAP", errNoURing)
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*cqeSize)
	mem, err := unix.Mmap(r.fd, ioringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("mmap io_uring: %w", err)
	}
	r.ringMem = mem
	sqes, err := unix.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries*sqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("mmap io_uring SQEs: %w", err)
	}
	r.sqeMem = sqes
	base := unsafe.Pointer(&mem[0])
	r.sqHead = (*uint32)(unsafe.Add(base, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	r.sqArray = unsafe.Add(base, p.sqOff.array)
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	r.cqes = unsafe.Add(base, p.cqOff.cqes)
	r.sqes = unsafe.Pointer(&sqes[0])
	// The SQ array maps slot i to SQE i for good.
	for i := uint32(0); i < p.sqEntries; i++ {
		*(*uint32)(unsafe.Add(r.sqArray, i*4)) = i
	}
	return r, nil
}

func (r *ioURing) close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.ringMem != nil {
		unix.Munmap(r.ringMem)
		r.ringMem = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// sqe returns the next free submission entry, zeroed, or nil if the
// submission queue is full (submit first).
func (r *ioURing) sqe() []byte {
	head := atomic.LoadUint32(r.sqHead)
	tail := *r.sqTail + r.pending
	if tail-head >= r.entries {
		return nil
	}
	e := unsafe.Slice((*byte)(unsafe.Add(r.sqes, uintptr(tail&r.sqMask)*sqeSize)), sqeSize)
	clear(e)
	r.pending++
	return e
}

// submitAndWait publishes the pending entries and enters the kernel,
// waiting for at least wait completions.
func (r *ioURing) submitAndWait(wait uint32) error {
	n := r.pending
	if n > 0 {
		atomic.StoreUint32(r.sqTail, *r.sqTail+n)
		r.pending = 0
	}
	flags := uintptr(0)
	if wait > 0 {
		flags = ioringEnterGetevents
	}
	for {
		_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), uintptr(wait), flags, 0, 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			// Submitted entries are consumed even when the wait is
			// interrupted; only wait again.
			n = 0
			continue
		default:
			return errno
		}
	}
}

// cqe is one completion.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// reap calls f for every completion available, and consumes them.
func (r *ioURing) reap(f func(c cqe)) int {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := *(*cqe)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*cqeSize))
		atomic.StoreUint32(r.cqHead, head+1)
		f(c)
		n++
	}
	return n
}

// prepURingCmd fills e as an IORING_OP_URING_CMD on fd.
func prepURingCmd(e []byte, fd int, cmdOp uint32, addr unsafe.Pointer, length uint32, userData uint64) {
	e[0] = ioringOpURingCmd
	putU32(e[4:], uint32(fd))
	putU32(e[8:], cmdOp)
	putU64(e[16:], uint64(uintptr(addr)))
	putU32(e[24:], length)
	putU64(e[32:], userData)
}

// prepRead fills e as an IORING_OP_READ of len bytes at addr from fd.
func prepRead(e []byte, fd int, addr unsafe.Pointer, length uint32, userData uint64) {
	e[0] = ioringOpRead
	putU32(e[4:], uint32(fd))
	putU64(e[8:], ^uint64(0)) // offset -1: the file's position (none for an eventfd)
	putU64(e[16:], uint64(uintptr(addr)))
	putU32(e[24:], length)
	putU64(e[32:], userData)
}

func putU32(b []byte, v uint32) { *(*uint32)(unsafe.Pointer(&b[0])) = v }
func putU64(b []byte, v uint64) { *(*uint64)(unsafe.Pointer(&b[0])) = v }
func getU32(b []byte) uint32    { return *(*uint32)(unsafe.Pointer(&b[0])) }
func getU64(b []byte) uint64    { return *(*uint64)(unsafe.Pointer(&b[0])) }

package fs

// FUSE over io_uring (Linux 6.14+, FUSE 7.42; see docs/fuse-uring.md).
//
// After INIT, when both sides opted in (FUSE_OVER_IO_URING in flags2), the
// daemon registers ring entries on every CPU's queue: one io_uring per
// queue, owned by an OS thread locked to its goroutine and pinned to that
// CPU. The kernel puts a request on the queue of the CPU the caller runs
// on, so it is served on that CPU, by a thread that shares nothing with the
// other queues' threads: no lock on the request path. Each entry is a
// header block (struct fuse_uring_req_header: fuse_in_header, the opcode's
// fixed part, commit id and payload size) and a payload buffer; the thread
// answers by writing the reply there and submitting COMMIT_AND_FETCH, which
// also re-arms the entry. Each request goes through the same
// ProtocolServer.HandleRequest (and poll.go) as on the classic loop.
//
// The kernel never sends FORGET, BATCH_FORGET or INTERRUPT through rings,
// and notifications (poll wake-ups, FUSE_NOTIFY_RESEND) are written to
// /dev/fuse: one classic reader keeps serving the device alongside.
//
// The kernel blocks every new request from INIT until each CPU's queue has
// an entry; a REGISTER that fails turns rings off for the connection (the
// kernel's fallback: the classic loop then gets everything).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

const (
	fuseURingCmdRegister       = 1
	fuseURingCmdCommitAndFetch = 2

	// struct fuse_uring_req_header
	ringHdrInOut   = 0   // fuse_in_header / fuse_out_header
	ringHdrOpIn    = 128 // the opcode's fixed argument
	ringHdrEntIO   = 256 // struct fuse_uring_ent_in_out
	ringHdrSize    = 288
	ringHdrIovecs  = 512 // where we keep the entry's two iovecs
	ringHdrBlock   = 4096
	ringOpInMax    = 128
	inHeaderLen    = 40
	outHeaderLen   = 16
	ringWakeTag    = ^uint64(0)
	ringDoneTag    = ^uint64(0) - 1
	minReadBuffer  = 8192 // FUSE_MIN_READ_BUFFER
	defaultRingDep = 4
)

// mayBlock reports whether an opcode may take long (a cgroup write can wait
// for memory reclaim, say): those are handled off the queue's thread, so
// that its CPU's other requests are not held up. Everything else (the proc
// files' OPEN, READ, RELEASE, LOOKUP, GETATTR, ...) is served inline.
func mayBlock(op uint32) bool {
	switch op {
	case 4, 6, 8, 9, 10, 11, 12, 13, 16, 20, 35, 43, 45: // SETATTR SYMLINK MKNOD MKDIR UNLINK RMDIR RENAME LINK WRITE FSYNC CREATE FALLOCATE RENAME2
		return true
	}
	return false
}

// URingParam is the module parameter that permits FUSE over io_uring.
const URingParam = "/sys/module/fuse/parameters/enable_uring"

// URingMode is the --fuse-uring setting.
type URingMode string

const (
	URingAuto URingMode = "auto"
	URingOn   URingMode = "on"
	URingOff  URingMode = "off"
)

// ParseURingMode parses --fuse-uring.
func ParseURingMode(s string) (URingMode, error) {
	switch m := URingMode(s); m {
	case URingAuto, URingOn, URingOff:
		return m, nil
	}
	return "", fmt.Errorf("--fuse-uring: %q is not auto, on or off", s)
}

// URingAvailability says whether this kernel would offer FUSE over io_uring
// to a new mount, and why not: "" when it would.
func URingAvailability() string {
	b, err := os.ReadFile(URingParam)
	if errors.Is(err, os.ErrNotExist) {
		return "the fuse module has no enable_uring parameter (kernel older than 6.14, or built without CONFIG_FUSE_IO_URING)"
	}
	if err != nil {
		return "enable_uring: " + err.Error()
	}
	if v := strings.TrimSpace(string(b)); v != "Y" && v != "1" {
		return "enable_uring is " + v
	}
	return ""
}

// EnableURing sets enable_uring to Y (root only). It returns the value it
// found, for callers that put it back.
func EnableURing() (old string, err error) {
	b, err := os.ReadFile(URingParam)
	if err != nil {
		return "", err
	}
	old = strings.TrimSpace(string(b))
	if old == "Y" {
		return old, nil
	}
	return old, os.WriteFile(URingParam, []byte("Y"), 0o644)
}

// SetURingParam writes v to enable_uring.
func SetURingParam(v string) error {
	return os.WriteFile(URingParam, []byte(v), 0o644)
}

// initOffersURing reports whether the kernel's INIT offers
// FUSE_OVER_IO_URING.
func initOffersURing(init []byte) bool {
	in, err := parseInit(init)
	if err != nil {
		return false
	}
	return in.Flags2&uint32(fuse.CAP_OVER_IO_URING>>32) != 0
}

// initOut offsets in an INIT reply: fuse_out_header, then fuse_init_out.
const (
	initOutFlags    = outHeaderLen + 12
	initOutMaxWrite = outHeaderLen + 20
	initOutMaxPages = outHeaderLen + 28
	initOutFlags2   = outHeaderLen + 32
)

// optInURing sets FUSE_OVER_IO_URING (and FUSE_INIT_EXT, which makes the
// kernel read flags2) in an INIT reply.
func optInURing(reply []byte) bool {
	if len(reply) < initOutFlags2+4 {
		return false
	}
	putU32(reply[initOutFlags:], getU32(reply[initOutFlags:])|fuse.CAP_INIT_EXT)
	putU32(reply[initOutFlags2:], getU32(reply[initOutFlags2:])|uint32(fuse.CAP_OVER_IO_URING>>32))
	return true
}

// ringPayloadSize is the payload buffer the kernel requires of every entry:
// max(FUSE_MIN_READ_BUFFER, max_write, max_pages * page size), from the
// INIT reply.
func ringPayloadSize(reply []byte) int {
	pg := os.Getpagesize()
	n := max(minReadBuffer, MaxRead)
	if len(reply) >= initOutMaxPages+2 {
		n = max(n, int(getU32(reply[initOutMaxWrite:])), int(binary.NativeEndian.Uint16(reply[initOutMaxPages:]))*pg)
	}
	return (n + pg - 1) / pg * pg
}

// possibleCPUs is the number of the kernel's queues: one per possible CPU.
func possibleCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for part := range strings.SplitSeq(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		h, err := strconv.Atoi(hi)
		if err != nil {
			return runtime.NumCPU()
		}
		_ = lo
		n = max(n, h+1)
	}
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}

// ringTransport serves a connection's requests from io_uring queues.
type ringTransport struct {
	s       *Server
	fd      int // the /dev/fuse fd the commands name
	nq      int
	depth   int
	payload int
	slot    int
	mem     []byte // every entry's header block and payload
	wake    int    // eventfd: draining or closing
	wg      sync.WaitGroup
	stop    atomic.Bool
	// served counts requests answered through rings (tests, logs).
	served atomic.Int64
}

func newRingTransport(s *Server, reply []byte) (*ringTransport, error) {
	t := &ringTransport{s: s, fd: int(s.dev.Fd()), nq: possibleCPUs(), depth: defaultRingDep, payload: ringPayloadSize(reply), wake: -1}
	t.slot = ringHdrBlock + t.payload
	size := t.slot * t.nq * t.depth
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("ring buffers (%d bytes): %w", size, err)
	}
	t.mem = mem
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_SEMAPHORE|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	t.wake = wake
	return t, nil
}

func (t *ringTransport) entry(q, e int) []byte {
	off := (q*t.depth + e) * t.slot
	return t.mem[off : off+t.slot]
}

// start registers every queue's entries, each queue from its own pinned
// thread, and returns once all are registered (or the first error).
func (t *ringTransport) start() error {
	t.stop.Store(false)
	var buf [8]byte
	for { // wake-ups left from an earlier shutdown
		if _, err := unix.Read(t.wake, buf[:]); err != nil {
			break
		}
	}
	errs := make(chan error, t.nq)
	for q := range t.nq {
		t.wg.Add(1)
		go t.serveQueue(q, errs)
	}
	var first error
	for range t.nq {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		t.shutdown()
	}
	return first
}

// shutdown stops every queue's thread and closes its ring, which makes the
// kernel take back the entries that wait for a request. It waits for them.
func (t *ringTransport) shutdown() {
	t.stop.Store(true)
	var n [8]byte
	binary.NativeEndian.PutUint64(n[:], uint64(t.nq)) // one for each thread
	unix.Write(t.wake, n[:])
	t.wg.Wait()
}

func (t *ringTransport) close() {
	if t.wake >= 0 {
		unix.Close(t.wake)
		t.wake = -1
	}
	if t.mem != nil {
		unix.Munmap(t.mem)
		t.mem = nil
	}
}

// pinToCPU pins the calling OS thread to cpu.
func pinToCPU(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

func (t *ringTransport) serveQueue(q int, started chan<- error) {
	defer t.wg.Done()
	// The thread keeps its affinity mask: it is never unlocked, and dies
	// with this goroutine.
	runtime.LockOSThread()
	if err := pinToCPU(q); err != nil {
		// A possible CPU that is offline: serve from anywhere.
		t.s.log.Debug("fuse ring: pinning", "queue", q, "err", err)
	}
	ring, err := newIOURing(uint32(2*t.depth + 4))
	if err != nil {
		started <- err
		return
	}
	defer ring.close()
	var wakeBuf [8]byte
	armWake := func() {
		prepRead(ring.sqe(), t.wake, unsafe.Pointer(&wakeBuf[0]), 8, ringWakeTag)
	}
	armWake()
	for e := range t.depth {
		b := t.entry(q, e)
		iov := (*[2]unix.Iovec)(unsafe.Pointer(&b[ringHdrIovecs]))
		iov[0].Base = &b[0]
		iov[0].SetLen(ringHdrSize)
		iov[1].Base = &b[ringHdrBlock]
		iov[1].SetLen(t.payload)
		sqe := ring.sqe()
		prepURingCmd(sqe, t.fd, fuseURingCmdRegister, unsafe.Pointer(iov), 2, uint64(e))
		binary.NativeEndian.PutUint16(sqe[64:], uint16(q)) // fuse_uring_cmd_req.qid
	}
	// Requests handled off this thread (mayBlock) come back on done, with
	// a wake-up on doneFD.
	doneFD, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		started <- err
		return
	}
	defer unix.Close(doneFD)
	done := make(chan int, t.depth)
	busy := 0
	var doneBuf [8]byte
	armDone := func() {
		prepRead(ring.sqe(), doneFD, unsafe.Pointer(&doneBuf[0]), 8, ringDoneTag)
	}
	armDone()
	commitDone := func() {
		for {
			select {
			case e := <-done:
				busy--
				t.queueCommit(ring, q, e)
			default:
				return
			}
		}
	}
	if err := ring.submitAndWait(0); err != nil {
		started <- fmt.Errorf("fuse ring queue %d: register: %w", q, err)
		return
	}
	// A REGISTER that fails completes at once; one that worked completes
	// only with a request.
	var regErr error
	var early []cqe
	ring.reap(func(c cqe) {
		if c.userData != ringWakeTag && c.res < 0 && regErr == nil {
			regErr = fmt.Errorf("fuse ring queue %d: FUSE_IO_URING_CMD_REGISTER: %w", q, unix.Errno(-c.res))
		}
		early = append(early, c)
	})
	if regErr != nil {
		started <- regErr
		return
	}
	started <- nil
	scratch := make([]byte, t.payload+ringHdrBlock)
	pollOut := make([]byte, 256)
	handle := func(c cqe) bool {
		switch c.userData {
		case ringWakeTag:
			if t.stop.Load() {
				return false
			}
			armWake()
			return true
		case ringDoneTag:
			armDone()
			commitDone()
			return true
		}
		if c.res < 0 {
			switch unix.Errno(-c.res) {
			case unix.ENOTCONN, unix.ECONNABORTED, unix.ENODEV:
				// Unmounted or aborted; the classic reader reports it.
			default:
				t.s.log.Warn("fuse ring", "queue", q, "entry", c.userData, "err", unix.Errno(-c.res))
			}
			return true
		}
		e := int(c.userData)
		if op := getU32(t.entry(q, e)[4:]); mayBlock(op) {
			busy++
			go func() {
				t.answer(q, e, make([]byte, t.payload+ringHdrBlock), make([]byte, 256))
				done <- e
				var one [8]byte
				binary.NativeEndian.PutUint64(one[:], 1)
				unix.Write(doneFD, one[:])
			}()
			return true
		}
		t.answer(q, e, scratch, pollOut)
		t.queueCommit(ring, q, e)
		return true
	}
	for _, c := range early {
		if !handle(c) {
			return
		}
	}
	for {
		if err := ring.submitAndWait(1); err != nil {
			t.s.log.Warn("fuse ring: io_uring_enter", "queue", q, "err", err)
			return
		}
		going := true
		ring.reap(func(c cqe) {
			if !handle(c) {
				going = false
			}
		})
		if !going {
			// Requests still handled off the thread are committed, and
			// every commit handed to the kernel, before the ring closes.
			for busy > 0 {
				e := <-done
				busy--
				t.queueCommit(ring, q, e)
			}
			// A commit fetches the next queued request at once, and
			// a request may be on its way to an entry: serve what
			// comes until a round brings nothing, then close. (The
			// kernel cannot take an entry back with a request on
			// it; see docs/fuse-uring.md.)
			for {
				ring.submitAndWait(0)
				more := 0
				ring.reap(func(c cqe) {
					if c.userData < ringDoneTag && c.res == 0 {
						t.answer(q, int(c.userData), scratch, pollOut)
						t.queueCommit(ring, q, int(c.userData))
						more++
					}
				})
				if more == 0 {
					return
				}
			}
		}
	}
}

// answer handles the request in entry e of queue q and writes the reply
// there.
func (t *ringTransport) answer(q, e int, scratch, pollOut []byte) {
	b := t.entry(q, e)
	hdr := b[ringHdrInOut:]
	ent := b[ringHdrEntIO:]
	payload := b[ringHdrBlock:]
	length := int(getU32(hdr[0:]))
	unique := getU64(hdr[8:])
	psz := int(getU32(ent[16:]))
	opsz := length - inHeaderLen - psz
	var w int
	if psz > t.payload || opsz < 0 || opsz > ringOpInMax {
		t.s.log.Warn("malformed FUSE ring request", "len", length, "payload", psz)
		w = errorReply(hdr, unique, unix.EIO)
	} else {
		in := scratch[:length]
		copy(in, hdr[:inHeaderLen])
		copy(in[inHeaderLen:], b[ringHdrOpIn:ringHdrOpIn+opsz])
		copy(in[inHeaderLen+opsz:], payload[:psz])
		var st fuse.Status
		var polled bool
		w, st, polled = t.s.poll(in, pollOut)
		if polled {
			copy(hdr[:outHeaderLen], pollOut[:outHeaderLen])
			copy(payload, pollOut[outHeaderLen:w])
		} else {
			w, st = t.s.ps.HandleRequest([][]byte{in}, [][]byte{hdr[:outHeaderLen], payload})
		}
		switch {
		case !st.Ok():
			t.s.log.Warn("malformed FUSE request", "status", st, "len", length)
			w = errorReply(hdr, unique, unix.EIO)
		case w == 0:
			// No reply (nothing sent through rings should lack one),
			// yet the entry must be committed to be used again.
			w = errorReply(hdr, unique, unix.ENOSYS)
		}
	}
	putU32(ent[16:], uint32(w-outHeaderLen))
	t.served.Add(1)
}

// queueCommit queues the COMMIT_AND_FETCH of entry e of queue q, whose
// reply is written.
func (t *ringTransport) queueCommit(ring *ioURing, q, e int) {
	commitID := getU64(t.entry(q, e)[ringHdrEntIO+8:])
	sqe := ring.sqe()
	if sqe == nil {
		ring.submitAndWait(0)
		sqe = ring.sqe()
	}
	prepURingCmd(sqe, t.fd, fuseURingCmdCommitAndFetch, nil, 0, uint64(e))
	binary.NativeEndian.PutUint64(sqe[56:], commitID)  // fuse_uring_cmd_req.commit_id
	binary.NativeEndian.PutUint16(sqe[64:], uint16(q)) // .qid
}

// errorReply writes a fuse_out_header with error err into hdr.
func errorReply(hdr []byte, unique uint64, err unix.Errno) int {
	putU32(hdr[0:], outHeaderLen)
	putU32(hdr[4:], uint32(-int32(err)))
	putU64(hdr[8:], unique)
	return outHeaderLen
}

// chooseTransport decides, while answering INIT, whether the connection
// serves through rings, and opts in in the reply if so.
func (s *Server) chooseTransport(reply []byte) error {
	mode := s.uring
	if mode == "" {
		mode = URingAuto
	}
	switch {
	case mode == URingOff && s.why != "":
		s.why = "classic: " + s.why
	case mode == URingOff:
		s.why = "classic: --fuse-uring=off"
	case !initOffersURing(s.init):
		why := URingAvailability()
		if why == "" {
			why = "the kernel did not offer FUSE_OVER_IO_URING"
		}
		s.why = "classic: " + why
	default:
		// Opting in makes the kernel hold every request until each
		// queue has an entry: make sure rings can be made first.
		r, err := newIOURing(4)
		if err != nil {
			s.why = "classic: " + err.Error()
			break
		}
		r.close()
		if !optInURing(reply) {
			s.why = "classic: INIT reply too short for flags2"
			break
		}
		s.ringMode = true
		s.why = fmt.Sprintf("io_uring: %d queues, one per possible CPU", possibleCPUs())
	}
	if mode == URingOn && !s.ringMode {
		return fmt.Errorf("--fuse-uring=on, but FUSE over io_uring is unavailable (%s)", strings.TrimPrefix(s.why, "classic: "))
	}
	return nil
}

// probeRingMode asks the kernel whether the connection of fd has rings:
// a COMMIT_AND_FETCH for commit id 0 (no request has it) fails with ENOENT
// when the connection has a ring, ENOTCONN when it has none, EOPNOTSUPP
// when rings are neither negotiated nor permitted. It changes nothing.
func probeRingMode(fd int) (bool, string) {
	r, err := newIOURing(2)
	if err != nil {
		return false, "classic: " + err.Error()
	}
	defer r.close()
	prepURingCmd(r.sqe(), fd, fuseURingCmdCommitAndFetch, nil, 0, 1)
	if err := r.submitAndWait(1); err != nil {
		return false, "classic: probing for a ring: " + err.Error()
	}
	res := int32(0)
	r.reap(func(c cqe) { res = c.res })
	switch unix.Errno(-res) {
	case unix.ENOENT:
		return true, fmt.Sprintf("io_uring: the connection has rings (%d queues, one per possible CPU)", possibleCPUs())
	case unix.EOPNOTSUPP:
		return false, "classic: the connection has no ring, and enable_uring is N"
	default:
		return false, "classic: the connection has no ring"
	}
}

// Transport says which transport serves the connection ("io_uring" or
// "classic") and why.
func (s *Server) Transport() (string, string) {
	if s.ringMode {
		return "io_uring", s.why
	}
	return "classic", s.why
}

// RingRequests counts the requests answered through rings by this process.
func (s *Server) RingRequests() int64 {
	if s.ring == nil {
		return 0
	}
	return s.ring.served.Load()
}

// startRings registers the rings and starts the one classic reader a
// ring-mode connection needs. Requests that arrived while no ring entry was
// registered (after a hand-over or crash) wait in their CPU's queue until an
// entry there is committed: one request served on each CPU sets them going.
func (s *Server) startRings() error {
	if s.ring == nil {
		t, err := newRingTransport(s, s.initReply)
		if err != nil {
			return err
		}
		s.ring = t
	}
	if s.wakeClassic < 0 {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return fmt.Errorf("eventfd: %w", err)
		}
		s.wakeClassic = fd
	} else {
		var b [8]byte
		unix.Read(s.wakeClassic, b[:])
	}
	if err := s.ring.start(); err != nil {
		return err
	}
	s.wg.Add(1)
	s.running.Add(1)
	go s.ringClassicLoop()
	s.kickQueues()
	return nil
}

// kickQueues sends one statfs(2) from each CPU, so that every queue commits
// an entry and so fetches the requests that queued up without one.
func (s *Server) kickQueues() {
	var wg sync.WaitGroup
	for q := range s.ring.nq {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // not unlocked: the thread goes with its mask
			if pinToCPU(q) != nil {
				return
			}
			var st unix.Statfs_t
			unix.Statfs(s.dir, &st)
		}()
	}
	wg.Wait()
}

// ringClassicLoop is the classic reader of a ring-mode connection: FORGET,
// INTERRUPT and resent requests still come through read(2). It waits in
// poll(2) with wakeClassic, so that Drain can stop it.
func (s *Server) ringClassicLoop() {
	defer s.wg.Done()
	defer s.running.Add(-1)
	fd := int(s.dev.Fd())
	buf, out, release := s.readerBuffers()
	defer release()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(s.wakeClassic), Events: unix.POLLIN}}
	for !s.draining.Load() {
		_, err := unix.Poll(fds, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			s.end(fmt.Errorf("poll /dev/fuse: %w", err))
			return
		}
		if fds[1].Revents != 0 || s.draining.Load() {
			return
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(fd, buf)
		if err != nil {
			if s.readFailed(err) {
				return
			}
			continue
		}
		s.serveOne(fd, buf[:n], out)
	}
}

// stopRings stops the ring threads and the classic reader of a ring-mode
// connection; requests wait in the kernel's queues meanwhile.
func (s *Server) stopRings() {
	if s.ring != nil {
		s.ring.shutdown()
	}
	if s.wakeClassic >= 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(s.wakeClassic, one[:])
	}
}

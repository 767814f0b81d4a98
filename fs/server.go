package fs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Server serves one FUSE connection with its own reader loop around go-fuse's
// ProtocolServer, rather than fuse.Server: we own the /dev/fuse fd and the
// raw INIT request, which is what a successor process needs to take the
// connection over (see ../shared/reference/gofuse-notes.md section 2.3 and
// docs/upgrade.md). It does not mount: it is given the fd (Serve, Attach)
// by package daemon, which decides where the fd comes from and goes.
//
// conn is the connection's fd that outlives this process when a holder (or
// systemd's fd store) keeps a copy of it; dev is the fd the readers read
// from. They are the same file unless the kernel cannot resend requests a
// dead process had taken (FUSE_NOTIFY_RESEND, Linux 6.9): then dev is a
// clone, so that a crash ends those requests (ECONNABORTED) instead of
// leaving them hanging on a device that stays open.
type Server struct {
	dir  string
	conn *os.File
	dev  *os.File
	ps   *fuse.ProtocolServer
	fs   fuse.RawFileSystem // for FUSE_POLL, which ps answers ENOSYS (poll.go)
	// polls counts FUSE_POLL requests, for tests of pollhack.go.
	polls atomic.Int64
	log   *slog.Logger
	init  []byte

	wg       sync.WaitGroup // readers
	draining atomic.Bool
	// waiting counts the readers blocked in read(2) on the device, running
	// those that exist (see loop).
	waiting, running atomic.Int32

	// FUSE over io_uring (ring.go): uring is the --fuse-uring setting,
	// ringMode whether the connection serves through rings, ring the
	// transport, why what the log and check say about the choice.
	uring     URingMode
	ringMode  bool
	ring      *ringTransport
	why       string
	initReply []byte
	// wakeClassic wakes the classic reader of a ring-mode connection, which
	// no statfs(2) reaches (those go to the rings).
	wakeClassic int

	endOnce sync.Once
	ended   chan struct{}
	bufs    chan *[]byte // readerBuffers
	errMu   sync.Mutex
	err     error
}

// ServerOptions configures a Server.
type ServerOptions struct {
	// Debug logs every FUSE request and reply.
	Debug bool
	// ServeOnClone reads requests from a clone of the connection's fd even
	// where the kernel could resend a dead server's requests: the
	// arrangement of kernels before 6.9, for comparison.
	ServeOnClone bool
	// URing chooses the transport: "" or URingAuto serves through
	// io_uring when the kernel offers it, URingOn fails the mount when it
	// does not, URingOff keeps the classic loop (docs/fuse-uring.md).
	URing URingMode
	// URingOffWhy, with URing off, is the reason the log and check give.
	URingOffWhy string
	Logger      *slog.Logger
}

// MaxRead bounds one READ request: the mount announces it to the kernel
// (max_read=), and a reader's buffer is this plus room for the request
// header.
const MaxRead = 128 * 1024

// protocolOptions are the settings negotiated at INIT. They must stay the
// same for the life of a connection, across daemon generations.
func protocolOptions(debug bool, logger *slog.Logger) *fuse.MountOptions {
	return &fuse.MountOptions{
		MaxWrite:           MaxRead,
		DisableXAttrs:      true,
		DisableReadDirPlus: true,
		Debug:              debug,
		Logger:             slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		PanicHandler: func(v any) fuse.Status {
			logger.Error("panic in a FUSE handler", "panic", v)
			return fuse.EIO
		},
	}
}

// Serve serves a connection that was just mounted on dir: conn is the
// /dev/fuse fd the mount was made with. It reads and answers the kernel's
// INIT (keeping the request for successors, see Init), starts serving, and
// returns once the mount is usable. On error the caller still owns conn
// and the mount.
func Serve(dir string, conn *os.File, fs fuse.RawFileSystem, opts ServerOptions) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := newServer(dir, conn, fs, opts)
	if err := s.handshake(); err != nil {
		return nil, err
	}
	if opts.ServeOnClone || !KernelResends(s.init) {
		// See Server: serve on a clone, so that a crash cannot leave
		// requests hanging on the fd a holder keeps.
		if clone, err := CloneDevice(conn); err == nil {
			s.dev = clone
		} else {
			s.log.Warn("serving on the mount's own fd", "err", err)
		}
	}
	s.Start()
	if p, ok := fs.(pollWanter); !ok || !p.wantsPoll() {
		if err := disablePoll(dir); err != nil {
			opts.Logger.Warn("could not turn off FUSE poll requests", "err", err)
		}
	}
	return s, nil
}

func newServer(dir string, conn *os.File, fs fuse.RawFileSystem, opts ServerOptions) *Server {
	return &Server{
		dir:   dir,
		conn:  conn,
		dev:   conn,
		ps:    fuse.NewProtocolServer(fs, protocolOptions(opts.Debug, opts.Logger)),
		fs:    fs,
		log:   opts.Logger,
		ended: make(chan struct{}),
		bufs:  make(chan *[]byte, maxReaders),
		uring: opts.URing,
		why:   opts.URingOffWhy,

		wakeClassic: -1,
	}
}

// Attach serves an existing, initialized connection: conn is its /dev/fuse
// fd as a predecessor, a holder or systemd's fd store kept it, and init the
// INIT request the kernel sent when it was mounted. The INIT is replayed
// into a fresh ProtocolServer (its reply discarded), so that this server
// speaks the protocol the kernel negotiated. If clone is set, requests are
// read from a clone of conn (FUSE_DEV_IOC_CLONE) rather than conn itself.
// Nothing is served until Start.
func Attach(dir string, conn *os.File, init []byte, fs fuse.RawFileSystem, clone bool, opts ServerOptions) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := parseInit(init); err != nil {
		return nil, err
	}
	s := newServer(dir, conn, fs, opts)
	s.init = append([]byte(nil), init...)
	out := make([]byte, 4096)
	_, st := s.ps.HandleRequest([][]byte{s.init}, [][]byte{out})
	if !st.Ok() {
		return nil, fmt.Errorf("replay FUSE INIT: %v", st)
	}
	if oh := (*fuse.OutHeader)(unsafe.Pointer(&out[0])); oh.Status != 0 {
		return nil, fmt.Errorf("replay FUSE INIT: error %d", -oh.Status)
	}
	s.initReply = out[:(*fuse.OutHeader)(unsafe.Pointer(&out[0])).Length]
	if clone {
		dev, err := CloneDevice(conn)
		if err != nil {
			return nil, err
		}
		s.dev = dev
	}
	// Whether the connection serves through rings is the kernel's to say:
	// once a ring is up, every request goes to it for the connection's
	// life, whatever this process's --fuse-uring.
	s.ringMode, s.why = probeRingMode(int(s.dev.Fd()))
	if s.uring == URingOn && !s.ringMode {
		return nil, fmt.Errorf("--fuse-uring=on: %s", s.why)
	}
	return s, nil
}

// Dir is the mount point.
func (s *Server) Dir() string { return s.dir }

// Conn is the connection's fd, the one to hand to a successor or holder.
func (s *Server) Conn() *os.File { return s.conn }

// Init is the raw INIT request of the connection.
func (s *Server) Init() []byte { return s.init }

// Shared reports whether the readers read from Conn itself rather than a
// clone.
func (s *Server) Shared() bool { return s.dev == s.conn }

// handshake reads and answers INIT, and keeps the request for successors.
func (s *Server) handshake() error {
	buf := make([]byte, MaxRead+4096)
	out := make([]byte, MaxRead+4096)
	for {
		n, err := unix.Read(int(s.dev.Fd()), buf)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read FUSE INIT: %w", err)
		}
		s.init = append([]byte(nil), buf[:n]...)
		if _, err := parseInit(s.init); err != nil {
			return err
		}
		w, st := s.ps.HandleRequest([][]byte{buf[:n]}, [][]byte{out})
		if !st.Ok() {
			return fmt.Errorf("handle FUSE INIT: %v", st)
		}
		if err := s.chooseTransport(out[:w]); err != nil {
			return err
		}
		s.initReply = append([]byte(nil), out[:w]...)
		if _, err := unix.Write(int(s.dev.Fd()), out[:w]); err != nil {
			return fmt.Errorf("answer FUSE INIT: %w", err)
		}
		return nil
	}
}

// initSize is the size of a fuse_in_header plus the part of fuse_init_in
// every kernel since 7.6 sends (major, minor, max_readahead, flags).
const initSize = int(unsafe.Sizeof(fuse.InHeader{})) + 16

// parseInit checks that b is an INIT request and returns the kernel's
// fuse_init_in.
func parseInit(b []byte) (fuse.InitIn, error) {
	var in fuse.InitIn
	if len(b) < initSize {
		return in, fmt.Errorf("FUSE INIT request too short (%d bytes)", len(b))
	}
	const opInit = 26
	if op := binary.NativeEndian.Uint32(b[4:8]); op != opInit {
		return in, fmt.Errorf("not a FUSE INIT request (opcode %d)", op)
	}
	p := b[unsafe.Sizeof(fuse.InHeader{}):]
	in.Major = binary.NativeEndian.Uint32(p[0:])
	in.Minor = binary.NativeEndian.Uint32(p[4:])
	in.MaxReadAhead = binary.NativeEndian.Uint32(p[8:])
	in.Flags = binary.NativeEndian.Uint32(p[12:])
	if len(p) >= 20 {
		in.Flags2 = binary.NativeEndian.Uint32(p[16:])
	}
	return in, nil
}

// KernelResends reports whether the kernel that sent init can resend the
// requests of a dead server (FUSE_NOTIFY_RESEND, FUSE 7.40, Linux 6.9).
func KernelResends(init []byte) bool {
	in, err := parseInit(init)
	if err != nil {
		return false
	}
	return in.Flags2&uint32(fuse.CAP_HAS_RESEND>>32) != 0
}

// Readers: goroutines that read a request from the device and handle it
// inline. About as many wait in read(2) as there are CPUs (idleReaders):
// every request wakes one of them, and a thread returning from read must
// find a free P of the Go runtime, so more waiting threads than CPUs only
// add wake-ups and hand-offs (with 4 waiting on 2 CPUs, 200 containers
// each reading loadavg once a second cost 1.60 CPU s per 20 s; with 2,
// 1.21 s). A reader that takes the last waiting one's place starts
// another before handling its request, so slow requests never hold up
// the rest, up to maxReaders (each holds 264 KiB of buffers); a reader
// that finds enough others waiting after its request ends.
func idleReaders() int32 { return int32(min(max(runtime.GOMAXPROCS(0), 2), 8)) }

// maxReaders bounds the readers, waiting or handling: 8 on 2 CPUs.
var maxReaders = 2*idleReaders() + 4

// readerBuffers are a reader's request and reply buffers; release gives
// them to the next reader. The server keeps those of readers that ended, at
// most one pair per possible reader: a sync.Pool would let the collector
// drop them, and readers come and go with the load, so 264 KiB buffers
// would be allocated again and again (the soak's Go heap doubled).
func (s *Server) readerBuffers() (in, out []byte, release func()) {
	var b *[]byte
	select {
	case b = <-s.bufs:
	default:
		buf := make([]byte, 2*(MaxRead+4096))
		b = &buf
	}
	return (*b)[:MaxRead+4096], (*b)[MaxRead+4096:], func() {
		select {
		case s.bufs <- b:
		default:
		}
	}
}

// Start starts the readers.
func (s *Server) Start() {
	s.draining.Store(false)
	if s.ringMode {
		err := s.startRings()
		if err == nil {
			return
		}
		// A REGISTER that fails before every queue has an entry makes
		// the kernel go back to read(2) for the connection; later, the
		// requests wait for a ring that never comes.
		s.log.Error("FUSE over io_uring failed; serving with the classic loop", "err", err)
		s.ringMode = false
		s.why = "classic: rings failed: " + err.Error()
	}
	for range idleReaders() {
		s.spawn()
	}
}

func (s *Server) spawn() {
	s.wg.Add(1)
	s.running.Add(1)
	go s.loop()
}

func (s *Server) loop() {
	defer s.wg.Done()
	defer s.running.Add(-1)
	fd := int(s.dev.Fd())
	buf, out, release := s.readerBuffers()
	defer release()
	for !s.draining.Load() {
		s.waiting.Add(1)
		n, err := unix.Read(fd, buf)
		left := s.waiting.Add(-1)
		if err != nil {
			if s.readFailed(err) {
				return
			}
			continue
		}
		if left == 0 && s.running.Load() < maxReaders && !s.draining.Load() {
			s.spawn()
		}
		s.serveOne(fd, buf[:n], out)
		if s.waiting.Load() >= idleReaders() {
			return
		}
	}
}

// readFailed handles an error of read(2) on /dev/fuse; true when the
// connection ended (s.end was called) and the reader is to return, false
// when it is to read again.
func (s *Server) readFailed(err error) bool {
	switch {
	case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
		return false
	case errors.Is(err, unix.ENOENT):
		// The request was interrupted before we read it.
		return false
	case errors.Is(err, unix.ENODEV):
		// Unmounted: the connection is gone.
		s.end(nil)
		return true
	default:
		s.end(fmt.Errorf("read /dev/fuse: %w", err))
		return true
	}
}

func (s *Server) serveOne(fd int, in, out []byte) {
	w, st, polled := s.poll(in, out) // FUSE_POLL (poll.go)
	if !polled {
		w, st = s.ps.HandleRequest([][]byte{in}, [][]byte{out})
	}
	if !st.Ok() {
		s.log.Warn("malformed FUSE request", "status", st, "len", len(in))
		return
	}
	if w == 0 {
		return // FORGET and friends have no reply
	}
	if _, err := unix.Write(fd, out[:w]); err != nil {
		// ENOENT: the request was interrupted (or resent) meanwhile;
		// the kernel no longer waits for this reply.
		if !errors.Is(err, unix.ENOENT) {
			s.log.Debug("write FUSE reply", "err", err)
		}
	}
}

func (s *Server) end(err error) {
	s.endOnce.Do(func() {
		s.errMu.Lock()
		s.err = err
		s.errMu.Unlock()
		close(s.ended)
		if s.ringMode {
			go s.stopRings()
		}
	})
}

// Ended is closed when the connection ends (the filesystem was unmounted or
// aborted); Err then says why.
func (s *Server) Ended() <-chan struct{} { return s.ended }

// Err is the error that ended the connection, nil for an unmount.
func (s *Server) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Wait blocks until the connection ends and every reader has returned, and
// returns Err.
func (s *Server) Wait() error {
	<-s.ended
	s.wg.Wait()
	if s.ring != nil {
		s.ring.wg.Wait()
	}
	return s.Err()
}

// Drain stops the readers: each finishes the request it holds and reads no
// more. Readers blocked in read(2) are woken with statfs(2) calls on the
// mount point, which only a reader can answer. Requests that arrive
// meanwhile wait in the kernel's queue for whoever reads next (the
// successor, or this server again after Start). It gives up after timeout.
func (s *Server) Drain(timeout time.Duration) error {
	s.draining.Store(true)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	if s.ringMode {
		// Ring threads finish the request each holds, commit it and
		// close their rings; the kernel takes back the entries that
		// wait for a request, and new requests wait in their CPU's
		// queue for the next entry registered there.
		go s.stopRings()
	} else {
		go s.wakeReaders(done)
	}
	select {
	case <-done:
		if s.ring != nil {
			s.ring.wg.Wait()
		}
		return nil
	case <-s.ended:
		return errors.New("the FUSE connection ended while draining")
	case <-time.After(timeout):
		return fmt.Errorf("readers still busy after %v", timeout)
	}
}

// wakeReaders wakes classic readers blocked in read(2) with statfs(2) calls
// on the mount point until done.
func (s *Server) wakeReaders(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-s.ended:
			return
		default:
		}
		var st unix.Statfs_t
		// Blocks until some reader answers; the last one may be
		// answered by the successor.
		if err := unix.Statfs(s.dir, &st); err != nil && !errors.Is(err, unix.EINTR) {
			time.Sleep(time.Millisecond)
		}
	}
}

// Resend asks the kernel to queue again every request that was read from
// the connection (by any process, dead or alive) and not answered yet
// (FUSE_NOTIFY_RESEND). A restarted daemon sends it so that the requests its
// crashed predecessor had taken are answered rather than hanging; a reply
// the old reader still writes is then refused (ENOENT) and harmless.
func (s *Server) Resend() error {
	const notifyResend = 7 // enum fuse_notify_code: FUSE_NOTIFY_RESEND
	var b [16]byte         // struct fuse_out_header {len, error, unique}
	binary.NativeEndian.PutUint32(b[0:], 16)
	binary.NativeEndian.PutUint32(b[4:], notifyResend)
	_, err := unix.Write(int(s.dev.Fd()), b[:])
	if err != nil {
		return fmt.Errorf("FUSE_NOTIFY_RESEND: %w", err)
	}
	return nil
}

// Close closes this process's fds of the connection. With no other fd left
// (no successor, holder or fd store), the kernel aborts the connection.
func (s *Server) Close() {
	if s.dev != s.conn {
		s.dev.Close()
	}
	s.conn.Close()
}

// Settle waits, after the filesystem was unmounted, up to timeout for the
// readers to see the connection end: every reader, not only the first to
// see the end, since a handler still running must not outlive what the
// caller frees next. A lazily detached mount that containers' bind mounts
// still reference stays connected; its readers keep serving until the
// process exits, which ends the connection, so Settle returns once every
// reader left waits in read(2).
func (s *Server) Settle(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		if s.ring != nil {
			s.ring.wg.Wait()
		}
		close(done)
	}()
	deadline := time.After(timeout)
	for {
		select {
		case <-done:
			return
		case <-deadline:
			return
		case <-time.After(time.Millisecond):
		}
		// Containers' bind mounts keep the connection alive after the
		// mount point is gone, and the readers blocked in read(2) until
		// the process exits: wait only for handlers that run. (Ring
		// threads are not counted so; with rings, the timeout bounds it.)
		if s.ring == nil && s.waiting.Load() == s.running.Load() {
			return
		}
	}
}

// fuseDevIocClone is FUSE_DEV_IOC_CLONE, _IOR(229, 0, uint32_t); x/sys/unix
// lacks it.
const fuseDevIocClone = 0x8004e500

// CloneDevice opens /dev/fuse and attaches it to conn's connection as a
// device of its own: requests read from it are answered through it, and
// closing it ends only those.
func CloneDevice(conn *os.File) (*os.File, error) {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/fuse: %w", err)
	}
	old := uint32(conn.Fd())
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fuseDevIocClone, uintptr(unsafe.Pointer(&old))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("FUSE_DEV_IOC_CLONE: %w", errno)
	}
	return os.NewFile(uintptr(fd), "/dev/fuse"), nil
}

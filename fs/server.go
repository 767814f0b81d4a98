package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Server serves one FUSE connection with its own reader loop around go-fuse's
// ProtocolServer, rather than fuse.Server: we own the /dev/fuse fd and the
// raw INIT request, which is what a successor process needs to take the
// connection over (see ../shared/reference/gofuse-notes.md section 2.3).
type Server struct {
	dir   string
	dev   *os.File
	ps    *fuse.ProtocolServer
	log   *slog.Logger
	init  []byte
	wg    sync.WaitGroup
	errMu sync.Mutex
	err   error
}

// ServerOptions configures Mount.
type ServerOptions struct {
	MountOptions
	// Debug logs every FUSE request and reply.
	Debug  bool
	Logger *slog.Logger
}

// protocolOptions are the settings negotiated at INIT. They must stay the
// same for the life of a connection, across daemon generations.
func protocolOptions(debug bool, logger *slog.Logger) *fuse.MountOptions {
	return &fuse.MountOptions{
		MaxWrite:           maxRead,
		FsName:             MountSource,
		Name:               "lxcfs",
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

// Mount mounts fs on dir, answers the kernel's INIT and starts serving. It
// returns once the mount is usable.
func Mount(dir string, fs fuse.RawFileSystem, opts ServerOptions) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dev, err := mount(dir, opts.MountOptions)
	if err != nil {
		return nil, err
	}
	s := &Server{
		dir: dir,
		dev: dev,
		ps:  fuse.NewProtocolServer(fs, protocolOptions(opts.Debug, opts.Logger)),
		log: opts.Logger,
	}
	if err := s.handshake(); err != nil {
		dev.Close()
		Unmount(dir)
		return nil, err
	}
	s.start()
	return s, nil
}

// Dir is the mount point.
func (s *Server) Dir() string { return s.dir }

// handshake reads and answers INIT, and keeps the request for successors.
func (s *Server) handshake() error {
	buf := make([]byte, maxRead+4096)
	out := make([]byte, maxRead+4096)
	for {
		n, err := unix.Read(int(s.dev.Fd()), buf)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read FUSE INIT: %w", err)
		}
		s.init = append([]byte(nil), buf[:n]...)
		w, st := s.ps.HandleRequest([][]byte{buf[:n]}, [][]byte{out})
		if !st.Ok() {
			return fmt.Errorf("handle FUSE INIT: %v", st)
		}
		if _, err := unix.Write(int(s.dev.Fd()), out[:w]); err != nil {
			return fmt.Errorf("answer FUSE INIT: %w", err)
		}
		return nil
	}
}

// readers is how many goroutines block in read(2) on the device. Each
// handles its request inline, so this bounds concurrency; more than a few
// per CPU only adds threads.
func readers() int {
	return min(max(2*runtime.GOMAXPROCS(0), 4), 16)
}

func (s *Server) start() {
	for range readers() {
		s.wg.Add(1)
		go s.loop()
	}
}

func (s *Server) loop() {
	defer s.wg.Done()
	fd := int(s.dev.Fd())
	buf := make([]byte, maxRead+4096)
	out := make([]byte, maxRead+4096)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case err == nil:
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.ENOENT):
			// The request was interrupted before we read it.
			continue
		case errors.Is(err, unix.ENODEV):
			// Unmounted: the connection is gone.
			return
		default:
			s.setErr(fmt.Errorf("read /dev/fuse: %w", err))
			return
		}
		w, st := s.ps.HandleRequest([][]byte{buf[:n]}, [][]byte{out})
		if !st.Ok() {
			s.log.Warn("malformed FUSE request", "status", st, "len", n)
			continue
		}
		if w == 0 {
			continue // FORGET and friends have no reply
		}
		if _, err := unix.Write(fd, out[:w]); err != nil {
			// ENOENT: the request was interrupted meanwhile; the kernel
			// no longer waits for it.
			if !errors.Is(err, unix.ENOENT) {
				s.log.Debug("write FUSE reply", "err", err)
			}
		}
	}
}

func (s *Server) setErr(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// Wait blocks until the connection ends (the filesystem was unmounted or
// aborted) and returns the error that ended it, if any.
func (s *Server) Wait() error {
	s.wg.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Unmount unmounts the filesystem and waits up to timeout for the readers to
// see the connection end. A lazily detached mount that containers' bind
// mounts still reference stays connected; its readers keep serving until
// the process exits, which ends the connection.
func (s *Server) Unmount(timeout time.Duration) error {
	err := Unmount(s.dir)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
	return err
}

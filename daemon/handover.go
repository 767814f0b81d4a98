package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"github.com/lxcfs-go/lxcfs-go/fs"
)

// TakeoverEnv names the descriptor of the hand-over socket in a successor's
// environment. A daemon started with it takes the connection over instead of
// mounting: its command reads the variable and calls AcceptTakeover.
const TakeoverEnv = "LXCFS_GO_TAKEOVER_FD"

// Timeouts of a hand-over.
const (
	prepareTimeout = 20 * time.Second // successor start-up, INIT replay
	drainTimeout   = 10 * time.Second // old readers finish their requests
	readyTimeout   = 10 * time.Second // successor imports state and serves
)

// handOverOptions says how to start the successor.
type handOverOptions struct {
	// Exe, Args and Env start it; Args excludes argv[0]. Env is this
	// process's environment; TakeoverEnv is added to it.
	Exe  string
	Args []string
	Env  []string
	// Files are passed on after the connection: the locked pid file, then
	// the fd store's memfds, if any (Takeover.Pidfile, stateFiles).
	Files []*os.File
	// Holder is the fd holder serving this connection, if any.
	Holder *holderInfo
	Logger *slog.Logger
}

// handOver starts the successor, gives it the connection and the state, and
// returns once it serves: the caller then exits without unmounting. On error
// the successor is gone and s serves again, as before.
//
// The conversation: offer (INIT, the connection's fd and Files) → prepared
// (the successor replayed INIT) → s drains → state → ready (the successor
// serves). Between the drain and ready nobody reads the device; requests
// wait in the kernel's queue, none fails.
func handOver(s *fs.Server, f FileSystem, opts handOverOptions) (pid int, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, child, err := socketpair()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var cmd *exec.Cmd
	for try := 0; ; try++ {
		cmd = exec.Command(opts.Exe, opts.Args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.ExtraFiles = []*os.File{child}
		cmd.Env = append(slices.Clone(opts.Env), TakeoverEnv+"=3")
		err = cmd.Start()
		// ETXTBSY: the new binary is still open for writing somewhere
		// (an installer that has not closed it yet); try again shortly.
		if !errors.Is(err, syscall.ETXTBSY) || try == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	child.Close()
	if err != nil {
		return 0, fmt.Errorf("start successor %s: %w", opts.Exe, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	abandon := func(cause error) error {
		conn.Close()
		cmd.Process.Kill()
		<-exited
		return cause
	}
	// A successor that dies breaks the socket; recv then fails at once.
	names := []string{"conn"}
	for range opts.Files {
		names = append(names, "file")
	}
	mid, _ := LookupMount(s.Dir())
	offer := &message{Type: "offer", Version: wireVersion, PID: os.Getpid(), Init: s.Init(),
		Mount: &mid, Holder: opts.Holder, Files: names,
		State: &fs.State{Version: fs.StateVersion, HandleEpoch: f.HandleEpoch()}}
	if err := send(conn, offer, append([]*os.File{s.Conn()}, opts.Files...)...); err != nil {
		return 0, abandon(fmt.Errorf("offer to successor: %w", err))
	}
	if _, _, err := expect(conn, "prepared", time.Now().Add(prepareTimeout)); err != nil {
		return 0, abandon(fmt.Errorf("successor %d did not take over: %w", cmd.Process.Pid, err))
	}
	start := time.Now()
	if err := s.Drain(drainTimeout); err != nil {
		s.Start()
		return 0, abandon(fmt.Errorf("drain: %w", err))
	}
	st := f.ExportState(true)
	err = send(conn, &message{Type: "state", State: st})
	if err == nil {
		var m *message
		m, _, err = expect(conn, "ready", time.Now().Add(readyTimeout))
		if err == nil {
			log.Info("successor serves", "pid", m.PID, "paused", time.Since(start).Round(time.Microsecond),
				"nodes", len(st.Nodes), "handles", len(st.Handles))
			return cmd.Process.Pid, nil
		}
	}
	// The successor may have read requests before it failed: serve again
	// and have the kernel resend what it left unanswered.
	abandon(nil)
	s.Start()
	if fs.KernelResends(s.Init()) {
		if rerr := s.Resend(); rerr != nil {
			log.Warn("after a failed hand-over", "err", rerr)
		}
	}
	return 0, fmt.Errorf("successor %d failed after the drain: %w", cmd.Process.Pid, err)
}

// Takeover is the successor's side of a hand-over.
type Takeover struct {
	sock *net.UnixConn // to the predecessor
	// conn is the FUSE connection's fd and init its INIT request.
	conn *os.File
	init []byte
	// Pidfile is the pid file the predecessor locked and passed on (the
	// first of handOverOptions.Files): the lock is on the open file
	// description, so it never lapses. stateFiles are the fd store's
	// memfds (fdstore.go), if the predecessor had an entry there.
	Pidfile    *os.File
	stateFiles []*os.File
	// mount is the mount the connection serves; holder the fd holder.
	mount  MountID
	holder *holderInfo
	// handleEpoch is the predecessor's handle epoch.
	handleEpoch uint16
	// pid is the predecessor's pid.
	pid int
}

// AcceptTakeover reads the offer from the hand-over socket on fd, the
// descriptor TakeoverEnv names; Options.Takeover then serves it. The caller
// clears the variable, so that this daemon's own successors do not inherit
// it.
func AcceptTakeover(fd int) (*Takeover, error) {
	if fd < 3 {
		return nil, fmt.Errorf("hand-over socket on fd %d: not a passed descriptor", fd)
	}
	conn, err := fileConn(os.NewFile(uintptr(fd), "handover"))
	if err != nil {
		return nil, fmt.Errorf("hand-over socket: %w", err)
	}
	m, files, err := expect(conn, "offer", time.Now().Add(prepareTimeout))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("hand-over offer: %w", err)
	}
	if len(files) == 0 || len(m.Init) == 0 {
		conn.Close()
		return nil, errors.New("hand-over offer without a connection")
	}
	t := &Takeover{sock: conn, conn: files[0], init: m.Init, holder: m.Holder, pid: m.PID}
	if len(files) > 1 {
		t.Pidfile = files[1]
	}
	if len(files) >= 4 {
		t.stateFiles = files[2:4]
	}
	if m.Mount != nil {
		t.mount = *m.Mount
	}
	if m.State != nil {
		t.handleEpoch = m.State.HandleEpoch
	}
	return t, nil
}

// prepared tells the predecessor to drain and waits for its state.
func (t *Takeover) prepared() (*fs.State, error) {
	if err := send(t.sock, &message{Type: "prepared", Version: wireVersion, PID: os.Getpid()}); err != nil {
		return nil, err
	}
	m, _, err := expect(t.sock, "state", time.Now().Add(drainTimeout+5*time.Second))
	if err != nil {
		return nil, err
	}
	return m.State, nil
}

// ready tells the predecessor that this process serves; it exits then.
func (t *Takeover) ready() error {
	defer t.sock.Close()
	return send(t.sock, &message{Type: "ready", PID: os.Getpid()})
}

// Fail tells the predecessor why this process gives up (it keeps serving).
func (t *Takeover) Fail(err error) {
	send(t.sock, &message{Type: "error", Error: err.Error()})
	t.sock.Close()
}

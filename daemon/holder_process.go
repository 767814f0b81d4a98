package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The holder process ("lxcfs-go fd-holder", or "lxcfs-go fd-keeper" with
// HolderOptions.Keeper): it keeps the connection (holder.go says why),
// answers the daemons' requests, and supervises them: it restarts a daemon
// that died without saying it leaves, and lets the connection go when no
// daemon has served it for the grace period.

// holderCheckInterval is how often the holder looks whether the connection
// ended. It must not wait in poll(2) on the fd instead: the kernel wakes
// every poller of /dev/fuse on every request (fuse_dev_poll waits on the
// request queue), which cost a context switch in the holder per request,
// a fifth of all the machine's switches with 8 readers on 2 CPUs.
const holderCheckInterval = 500 * time.Millisecond

// HolderOptions tune the holder process.
type HolderOptions struct {
	// Grace is how long the holder keeps a connection that no daemon
	// serves (default 30s): a crashed daemon that nobody restarts, or one
	// that keeps crashing, must not leave readers waiting for ever.
	Grace time.Duration
	// Keeper makes a holder that outlives daemons and connections: it
	// starts with no connection, listening on Socket, takes one from a
	// daemon ("put" with the fd; holderInfo.keep), and when that
	// connection ends or is released it waits for the next instead of
	// exiting. Kubernetes runs it in a pod of its own, so that replacing
	// the daemon's pod never ends the connection (docs/kubernetes.md).
	Keeper bool
	Socket string
}

// settleTime is how long a daemon must stay attached before it counts as
// serving. One that dies sooner (a crash loop at start) does not reset the
// grace period: readers get an error in the end instead of waiting through
// restart after restart.
const settleTime = 2 * time.Second

// Backoff between the holder's restarts of a daemon that keeps dying before
// it settles: the first restart is at once, then twice the wait each time.
const (
	restartBackoffMin = 100 * time.Millisecond
	restartBackoffMax = 2 * time.Second
)

// RunHolder is the holder process: "lxcfs-go fd-holder MOUNTPOINT" with the
// connection on fd 3 and its listening socket on fd 4.
func RunHolder(args []string, o HolderOptions, stderr io.Writer) int {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE, syscall.SIGUSR1, syscall.SIGUSR2)
	var conn *os.File
	var ln *net.UnixListener
	if o.Keeper {
		var err error
		if ln, err = listenHolder(o.Socket); err != nil {
			fmt.Fprintf(stderr, "lxcfs-go fd-holder: %v\n", err)
			return 1
		}
	} else {
		conn = os.NewFile(3, "/dev/fuse")
		lf := os.NewFile(4, "holder socket")
		if conn == nil || lf == nil {
			fmt.Fprintln(stderr, "lxcfs-go fd-holder: started without its descriptors")
			return 2
		}
		unix.CloseOnExec(3)
		unix.CloseOnExec(4)
		l, err := net.FileListener(lf)
		lf.Close()
		if err != nil {
			fmt.Fprintf(stderr, "lxcfs-go fd-holder: %v\n", err)
			return 2
		}
		ln = l.(*net.UnixListener)
	}
	if o.Grace <= 0 {
		o.Grace = 30 * time.Second
	}
	h := &holder{
		conn:     conn,
		keeper:   o.Keeper,
		ln:       ln,
		grace:    o.Grace,
		log:      slog.New(slog.NewTextHandler(stderr, nil)).With("fd_holder", os.Getpid()),
		held:     &message{Type: "held", PID: os.Getpid()},
		attached: map[*net.UnixConn]time.Time{},
		lastGood: time.Now(),
	}
	return h.run()
}

// holder is the state of the holder process.
type holder struct {
	keeper bool
	ln     *net.UnixListener
	grace  time.Duration
	log    *slog.Logger
	// socket is where ln listens; sockStat identifies the file, so that
	// the holder removes it only if nobody has replaced it since.
	socket   string
	sockStat unix.Stat_t

	mu   sync.Mutex
	conn *os.File // the FUSE connection, never read; nil in a keeper without one
	held *message // INIT, mount identity, node table
	// attached maps each attached daemon's socket to when it attached.
	attached map[*net.UnixConn]time.Time
	// lastGood is the last time a settled daemon was attached; the
	// connection is let go grace after it.
	lastGood time.Time
	// restart starts a daemon again after a crash; nil when something
	// else does (systemd) or nobody should.
	restart *Restart
	child   *os.Process // a daemon the holder started, until it exits
	backoff time.Duration
	pending bool // a restart is scheduled
}

// run serves the holder's socket until the holder exits.
func (h *holder) run() int {
	h.socket = h.ln.Addr().String()
	unix.Stat(h.socket, &h.sockStat)
	go h.watch()
	for {
		c, err := h.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				h.quit(1)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go h.serve(c)
	}
}

// quit exits the holder process, removing the socket if it is still ours.
func (h *holder) quit(code int) {
	var st unix.Stat_t
	if unix.Stat(h.socket, &st) == nil && st.Ino == h.sockStat.Ino && st.Dev == h.sockStat.Dev {
		os.Remove(h.socket)
	}
	os.Exit(code)
}

// letGoLocked drops the connection: a holder exits, a keeper waits for
// the next one. Called with h.mu held.
func (h *holder) letGoLocked() {
	if !h.keeper {
		h.quit(0)
	}
	h.conn.Close()
	h.conn = nil
	h.held = &message{Type: "held", PID: os.Getpid()}
	h.restart = nil
}

// watch lets the connection go once it ends, or once no daemon has served
// it for the grace period; it looks every holderCheckInterval.
func (h *holder) watch() {
	for {
		time.Sleep(holderCheckInterval)
		h.mu.Lock()
		if h.conn != nil && connEnded(int(h.conn.Fd())) {
			h.log.Info("the connection ended")
			h.letGoLocked()
		}
		if h.conn != nil && h.orphanedLocked(time.Now()) {
			h.log.Error("no daemon has served the connection for the grace period; letting it go: readers get ENOTCONN",
				"grace", h.grace)
			h.letGoLocked()
		}
		h.mu.Unlock()
	}
}

// serve answers one request on c; an "attach" keeps c for the daemon's
// life (serveAttached).
func (h *holder) serve(c *net.UnixConn) {
	defer c.Close()
	if !peerIsRoot(c) {
		return
	}
	m, files, err := recv(c, time.Now().Add(5*time.Second))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if err != nil {
		return
	}
	if m.Type == "attach" {
		h.serveAttached(c, m)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch m.Type {
	case "ping":
		send(c, &message{Type: "pong", PID: os.Getpid()})
	case "put":
		if h.putLocked(m, files) {
			files = nil
		}
		send(c, &message{Type: "ok"})
	case "get":
		if h.conn == nil {
			send(c, h.held)
			return
		}
		send(c, h.held, h.conn)
	case "release":
		send(c, &message{Type: "ok"})
		if h.conn != nil {
			h.letGoLocked()
		}
	default:
		send(c, &message{Type: "error", Error: "unknown request " + m.Type})
	}
}

// putLocked keeps what a daemon sends: the INIT request, the mount's
// identity, the node table, and, to a keeper, a new connection (the one
// file), which it reports taking. Called with h.mu held.
func (h *holder) putLocked(m *message, files []*os.File) (took bool) {
	if len(files) == 1 && h.keeper {
		// A keeper takes a daemon's new connection; the daemon found
		// the one kept before not mounted.
		if h.conn != nil {
			h.log.Warn("replacing the kept connection with a daemon's new one")
			h.letGoLocked()
		}
		h.conn, took = files[0], true
		h.lastGood = time.Now()
		h.log.Info("keeping a connection", "mount", m.Mount)
	}
	if m.Init != nil {
		h.held.Init = m.Init
	}
	if m.Mount != nil {
		h.held.Mount = m.Mount
	}
	if m.State != nil {
		h.held.State = m.State
	}
	return took
}

// orphanedLocked reports whether no daemon is attached and none that had
// settled has been for the grace period.
func (h *holder) orphanedLocked(now time.Time) bool {
	for _, since := range h.attached {
		if now.Sub(since) >= settleTime {
			h.lastGood = now
			h.backoff = 0
		}
	}
	return len(h.attached) == 0 && now.Sub(h.lastGood) > h.grace
}

// serveAttached keeps a daemon's attach socket until it closes: the daemon
// exited. It says "leaving" first when it exits on purpose (after a
// hand-over, or when the mount went away); otherwise it crashed, and the
// holder starts it again if it was asked to.
func (h *holder) serveAttached(c *net.UnixConn, m *message) {
	now := time.Now()
	h.mu.Lock()
	h.attached[c] = now
	if m.Restart != nil {
		h.restart = m.Restart
	}
	h.mu.Unlock()
	send(c, &message{Type: "ok"})
	c.SetReadDeadline(time.Time{})
	leaving := false
	for {
		m, files, err := recv(c, time.Time{})
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			break
		}
		if m.Type == "leaving" {
			leaving = true
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.attached[c]) >= settleTime {
		h.lastGood = time.Now()
		h.backoff = 0
	}
	delete(h.attached, c)
	if !leaving {
		h.log.Warn("the daemon died", "pid", m.PID)
		h.restartLocked()
	}
}

// restartLocked schedules a restart of the daemon if none is attached, none
// the holder started is still starting, and the daemon asked for it.
func (h *holder) restartLocked() {
	if h.restart == nil || h.pending || h.child != nil || len(h.attached) > 0 {
		return
	}
	delay := h.backoff
	h.backoff = min(max(2*h.backoff, restartBackoffMin), restartBackoffMax)
	h.pending = true
	time.AfterFunc(delay, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.pending = false
		if h.child != nil || len(h.attached) > 0 {
			return
		}
		r := h.restart
		cmd := exec.Command(r.Exe, r.Args...)
		cmd.Env, cmd.Dir = r.Env, r.Dir
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			h.log.Error("restarting the daemon", "exe", r.Exe, "err", err)
			h.restartLocked()
			return
		}
		h.child = cmd.Process
		h.log.Info("restarted the daemon", "pid", cmd.Process.Pid, "after", delay)
		go func() {
			err := cmd.Wait()
			h.mu.Lock()
			defer h.mu.Unlock()
			h.child = nil
			if len(h.attached) == 0 {
				h.log.Warn("the restarted daemon exited", "pid", cmd.Process.Pid, "err", err)
				h.restartLocked()
			}
		}()
	})
}

package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/fs"
)

// The fd holder keeps a copy of the FUSE connection's fd in a process of its
// own, so that the connection outlives a crashed daemon: the mount never
// goes ENOTCONN, requests wait in the kernel's queue, and a restarted daemon
// gets the fd (with the INIT request and the node table) from the holder and
// serves on. The holder never reads the fd. It exits when the connection
// ends (the fd reports POLLERR once the connection is aborted or fully
// unmounted; looked at every holderCheckInterval) or when the daemon stops
// on purpose and releases it. Under systemd the fd store plays this role
// instead (fdstore.go). This file is the daemons' side of it; the holder
// process is holder_process.go.

// connEnded reports whether the FUSE connection on fd has ended (aborted, or
// unmounted for good): /dev/fuse then polls POLLERR. The poll does not wait.
func connEnded(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd)}}
	for {
		_, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err != nil || fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0
	}
}

// HolderSubcommand is the subcommand the daemon starts its holder with:
// "lxcfs-go fd-holder MOUNTPOINT", conn on fd 3, the listening socket on 4.
const HolderSubcommand = "fd-holder"

// holderInfo locates a running holder.
type holderInfo struct {
	Socket string `json:"socket"`
	PID    int    `json:"pid"`
}

// HolderSocket is where the holder of the daemon with this pidfile listens.
func HolderSocket(pidfile string) string { return pidfile + ".fd-holder" }

// startHolder starts a holder for s's connection, listening on socket, and
// gives it the INIT request and the mount's identity.
func startHolder(exe, socket string, s *fs.Server) (*holderInfo, error) {
	ln, err := listenHolder(socket)
	if err != nil {
		return nil, err
	}
	lf, err := ln.File()
	ln.Close()
	if err != nil {
		os.Remove(socket)
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(exe, HolderSubcommand, s.Dir())
	cmd.ExtraFiles = []*os.File{s.Conn(), lf}
	// Where the daemon logs, the holder and the daemons it restarts do.
	cmd.Stderr = os.Stderr
	// Its own session: a signal to the daemon's process group (^C) leaves
	// it alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		os.Remove(socket)
		return nil, fmt.Errorf("start fd holder: %w", err)
	}
	go cmd.Wait() // reap it if it exits before us
	h := &holderInfo{Socket: socket, PID: cmd.Process.Pid}
	mid, _ := LookupMount(s.Dir())
	if _, _, err := h.call(&message{Type: "put", Init: s.Init(), Mount: &mid}); err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("fd holder: %w", err)
	}
	return h, nil
}

// listenHolder listens on socket, answering root only (mode 0600; each
// request also checks the peer's credentials).
func listenHolder(socket string) (*net.UnixListener, error) {
	os.Remove(socket)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("fd holder: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(socket, 0o600); err != nil {
		ln.Close()
		os.Remove(socket)
		return nil, err
	}
	return ln, nil
}

// keep gives s's connection to a keeper (a holder that runs apart from the
// daemon, RunHolder with Keeper set), with the INIT request and the
// mount's identity.
func (h *holderInfo) keep(s *fs.Server) error {
	mid, _ := LookupMount(s.Dir())
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: h.Socket, Net: "unix"})
	if err != nil {
		return err
	}
	defer c.Close()
	if !peerIsRoot(c) {
		return fmt.Errorf("%s: not served by root", h.Socket)
	}
	if err := send(c, &message{Type: "put", Version: wireVersion, Init: s.Init(), Mount: &mid}, s.Conn()); err != nil {
		return err
	}
	_, _, err = expect(c, "ok", time.Now().Add(5*time.Second))
	return err
}

// call sends one request to the holder and returns its answer.
func (h *holderInfo) call(m *message) (*message, []*os.File, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: h.Socket, Net: "unix"})
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	if !peerIsRoot(c) {
		return nil, nil, fmt.Errorf("%s: not served by root", h.Socket)
	}
	m.Version = wireVersion
	if err := send(c, m); err != nil {
		return nil, nil, err
	}
	return recv(c, time.Now().Add(5*time.Second))
}

// connectHolder finds the holder listening on socket; nil, nil if there is
// none.
func connectHolder(socket string) (*holderInfo, error) {
	h := &holderInfo{Socket: socket}
	m, _, err := h.call(&message{Type: "ping"})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
		// No holder answers. The socket file is left alone: a holder
		// that has bound it but not yet listened refuses too, and
		// removing its file then would leave it unreachable for good
		// (whoever listens next removes a dead holder's file).
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h.PID = m.PID
	return h, nil
}

// keptConn is a connection a holder (or systemd's fd store) kept, with
// what the next daemon needs to serve it.
type keptConn struct {
	conn  *os.File
	init  []byte
	mount MountID
	state *fs.State
	// fdstore is set when the connection came from systemd's fd store.
	fdstore *fdStore
}

// get returns a copy of the connection's fd and what the holder knows.
func (h *holderInfo) get() (*keptConn, error) {
	m, files, err := h.call(&message{Type: "get"})
	if err != nil {
		return nil, err
	}
	if len(files) != 1 || len(m.Init) == 0 {
		for _, f := range files {
			f.Close()
		}
		return nil, errors.New("fd holder has no connection")
	}
	kept := &keptConn{conn: files[0], init: m.Init, state: m.State}
	if m.Mount != nil {
		kept.mount = *m.Mount
	}
	return kept, nil
}

// sayLeaving tells the holder, over the socket attachDaemon returned, that
// this daemon exits on purpose and is not to be restarted.
func sayLeaving(attach *net.UnixConn) error {
	return send(attach, &message{Type: "leaving", Version: wireVersion, PID: os.Getpid()})
}

// put stores st with the holder, for the next daemon after a crash.
func (h *holderInfo) put(st *fs.State) error {
	_, _, err := h.call(&message{Type: "put", State: st})
	return err
}

// release makes the holder close its fd and exit.
func (h *holderInfo) release() error {
	_, _, err := h.call(&message{Type: "release"})
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// Restart is how the holder starts the daemon again after a crash: the
// binary on disk, with the arguments, environment and directory of the
// daemon that attached last.
type Restart struct {
	Exe  string   `json:"exe"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`
}

// attachDaemon tells the holder that this daemon serves the connection,
// for as long as the returned socket stays open (it closes when the process
// exits, however it exits). A daemon that exits on purpose says so first
// (sayLeaving). One that dies without saying so has crashed: the holder starts
// it again as restart says (nil: something else restarts it, systemd).
// A holder that has had no daemon serving for its grace period lets the
// connection go: a crashed daemon that nobody restarts, or one that keeps
// crashing, must not leave readers waiting for ever.
func (h *holderInfo) attachDaemon(restart *Restart) (*net.UnixConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: h.Socket, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if !peerIsRoot(c) {
		c.Close()
		return nil, fmt.Errorf("%s: not served by root", h.Socket)
	}
	if err := send(c, &message{Type: "attach", Version: wireVersion, PID: os.Getpid(), Restart: restart}); err != nil {
		c.Close()
		return nil, err
	}
	if _, _, err := expect(c, "ok", time.Now().Add(5*time.Second)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// keepState stores f's node table with the holder now and whenever it
// changes, at most once per interval, until stop is closed. It sleeps while
// the table stays the same: an idle daemon does not wake up for it.
func (h *holderInfo) keepState(f FileSystem, interval time.Duration, log *slog.Logger, stop <-chan struct{}) {
	keepState(f.NodesChanged(), interval, stop, func() bool {
		if err := h.put(f.ExportState(false)); err != nil {
			log.Warn("fd holder: storing the node table", "err", err)
			return false
		}
		return true
	})
}

// keepState calls put now and after every change of the node table
// (changed receives; FileSystem.NodesChanged), at most once per interval;
// a put that fails is retried after an interval.
func keepState(changed <-chan struct{}, interval time.Duration, stop <-chan struct{}, put func() bool) {
	retry := !put()
	for {
		if retry {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
		} else {
			select {
			case <-stop:
				return
			case <-changed:
			}
			// Let a burst of lookups (a container walking the tree)
			// finish before snapshotting.
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
		}
		retry = !put()
	}
}

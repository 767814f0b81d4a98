package daemon

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Notifier sends sd_notify(3) messages to systemd: READY=1, MAINPID= and
// STOPPING=1 for a Type=notify service, and the descriptors of the fd store
// (fdstore.go). Socket is NOTIFY_SOCKET as systemd set it, a path or an
// abstract name starting with @; the zero Notifier (not started by systemd)
// sends nothing.
type Notifier struct {
	Socket string
}

// Enabled reports whether systemd listens.
func (n Notifier) Enabled() bool { return n.Socket != "" }

// Notify sends state, with fds attached (SCM_RIGHTS).
func (n Notifier) Notify(state string, fds ...int) error {
	addr := n.Socket
	if addr == "" {
		return nil
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(sock)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	err = unix.Sendmsg(sock, []byte(state), oob, &unix.SockaddrUnix{Name: addr}, 0)
	if errors.Is(err, syscall.EAGAIN) {
		err = fmt.Errorf("notify socket busy: %w", err)
	}
	return err
}

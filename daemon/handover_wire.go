package daemon

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/fs"
)

// Messages between daemon generations, and between a daemon and its fd
// holder, travel over unix stream sockets as a 4-byte length and a JSON
// body; file descriptors ride with the length (SCM_RIGHTS).

// wireVersion is the version of the hand-over conversation. A side that
// receives a newer one refuses it.
const wireVersion = 1

// maxMessage bounds a message body (the state with every handle's snapshot).
const maxMessage = 256 << 20

type message struct {
	Type    string `json:"type"`
	Version int    `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
	PID     int    `json:"pid,omitempty"`
	// Init is the connection's raw FUSE INIT request.
	Init []byte `json:"init,omitempty"`
	// Mount identifies the mount the connection serves.
	Mount  *MountID    `json:"mount,omitempty"`
	Holder *holderInfo `json:"holder,omitempty"`
	State  *fs.State   `json:"state,omitempty"`
	// Restart comes with "attach": how to start the daemon after a crash.
	Restart *Restart `json:"restart,omitempty"`
	// Files names the descriptors that come with the message, in order.
	Files []string `json:"files,omitempty"`
}

// MountID identifies a FUSE mount: its mount point and the device number
// mountinfo shows for it ("0:53"), which is the connection's.
type MountID struct {
	Dir string `json:"dir"`
	Dev string `json:"dev"`
}

func send(c *net.UnixConn, m *message, files ...*os.File) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix(hdr[:], oob, nil); err != nil {
		return err
	}
	_, err = c.Write(body)
	return err
}

// recv reads one message and the descriptors that came with it (CLOEXEC).
func recv(c *net.UnixConn, deadline time.Time) (*message, []*os.File, error) {
	c.SetReadDeadline(deadline)
	var hdr [4]byte
	oob := make([]byte, unix.CmsgSpace(8*4))
	n, oobn, _, _, err := c.ReadMsgUnix(hdr[:], oob)
	var files []*os.File
	if oobn > 0 {
		cmsgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
		if perr == nil {
			for _, cm := range cmsgs {
				fds, _ := unix.ParseUnixRights(&cm)
				for _, fd := range fds {
					unix.CloseOnExec(fd)
					files = append(files, os.NewFile(uintptr(fd), "received"))
				}
			}
		}
	}
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	if err == nil && n < len(hdr) {
		_, err = io.ReadFull(c, hdr[n:])
	}
	if err != nil {
		closeAll()
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, nil, io.EOF
		}
		return nil, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxMessage {
		closeAll()
		return nil, nil, fmt.Errorf("message of %d bytes is too large", size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c, body); err != nil {
		closeAll()
		return nil, nil, err
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("bad message: %w", err)
	}
	if m.Version > wireVersion {
		closeAll()
		return nil, nil, fmt.Errorf("peer speaks hand-over version %d, this binary %d", m.Version, wireVersion)
	}
	if m.Type == "error" {
		closeAll()
		return &m, nil, fmt.Errorf("peer: %s", m.Error)
	}
	return &m, files, nil
}

// expect receives a message of type typ.
func expect(c *net.UnixConn, typ string, deadline time.Time) (*message, []*os.File, error) {
	m, files, err := recv(c, deadline)
	if err != nil {
		return nil, nil, err
	}
	if m.Type != typ {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, fmt.Errorf("got %q, want %q", m.Type, typ)
	}
	return m, files, nil
}

// socketpair returns two connected unix stream sockets, one as a *net.UnixConn
// and the other as a file to pass to a child.
func socketpair() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	c, err := fileConn(os.NewFile(uintptr(fds[0]), "handover"))
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), "handover"), nil
}

// fileConn turns a socket file into a *net.UnixConn (and closes f).
func fileConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("not a unix socket")
	}
	return uc, nil
}

// peerIsRoot reports whether the process at the other end of c runs as root.
func peerIsRoot(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	return err == nil && cred != nil && cred.Uid == 0
}

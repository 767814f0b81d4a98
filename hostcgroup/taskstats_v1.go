package hostcgroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// taskstats is a generic netlink socket to the kernel's TASKSTATS family,
// used for CGROUPSTATS_CMD_GET (include/uapi/linux/cgroupstats.h): given
// the fd of a v1 cgroup directory, the kernel counts that cgroup's threads
// by state (kernel/cgroup/cgroup-v1.c, cgroupstats_build). It refuses
// cgroup2 directories with EINVAL, and counts the cgroup's own threads, not
// its descendants'.
type taskstats struct {
	fd     int
	family uint16
	seq    atomic.Uint32
	buf    []byte
}

// cgroupStats is struct cgroupstats.
type cgroupStats struct {
	Sleeping, Running, Stopped, Uninterruptible, IOWait uint64
}

func openTaskstats() (*taskstats, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	tv := unix.Timeval{Sec: 2}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	t := &taskstats{fd: fd, buf: make([]byte, 16384)}
	if t.family, err = t.resolveFamily(unix.TASKSTATS_GENL_NAME); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return t, nil
}

func (t *taskstats) close() { unix.Close(t.fd) }

const (
	nlmsgHdrLen  = 16
	genlHdrLen   = 4
	nlaHdrLen    = 4
	genlCtrlVers = 2
)

func nlaAlign(n int) int { return (n + 3) &^ 3 }

// request builds a generic netlink request with one attribute.
func (t *taskstats) request(family uint16, cmd uint8, attrType uint16, attr []byte) []byte {
	n := nlmsgHdrLen + genlHdrLen + nlaAlign(nlaHdrLen+len(attr))
	b := make([]byte, n)
	seq := t.seq.Add(1)
	binary.NativeEndian.PutUint32(b[0:], uint32(n))
	binary.NativeEndian.PutUint16(b[4:], family)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b[16] = cmd
	b[17] = 1 // version
	binary.NativeEndian.PutUint16(b[20:], uint16(nlaHdrLen+len(attr)))
	binary.NativeEndian.PutUint16(b[22:], attrType)
	copy(b[24:], attr)
	return b
}

// roundTrip sends req and returns the attributes of the reply with the
// same sequence number.
func (t *taskstats) roundTrip(req []byte) ([]byte, error) {
	seq := binary.NativeEndian.Uint32(req[8:])
	if err := unix.Sendto(t.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(t.fd, t.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		b := t.buf[:n]
		for len(b) >= nlmsgHdrLen {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			typ := binary.NativeEndian.Uint16(b[4:])
			mseq := binary.NativeEndian.Uint32(b[8:])
			if l < nlmsgHdrLen || l > len(b) {
				return nil, fmt.Errorf("%w: netlink message length %d", ErrParse, l)
			}
			msg := b[nlmsgHdrLen:l]
			b = b[min(nlaAlign(l), len(b)):]
			if mseq != seq {
				continue // a stale reply to an earlier, timed-out request
			}
			if typ == unix.NLMSG_ERROR {
				if len(msg) < 4 {
					return nil, fmt.Errorf("%w: short netlink error", ErrParse)
				}
				if e := int32(binary.NativeEndian.Uint32(msg)); e != 0 {
					return nil, unix.Errno(-e)
				}
				continue
			}
			if len(msg) < genlHdrLen {
				return nil, fmt.Errorf("%w: short generic netlink message", ErrParse)
			}
			return msg[genlHdrLen:], nil
		}
	}
}

// attrs calls fn for each netlink attribute in b.
func attrs(b []byte, fn func(typ uint16, val []byte)) {
	for len(b) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff // strip NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if l < nlaHdrLen || l > len(b) {
			return
		}
		fn(typ, b[nlaHdrLen:l])
		b = b[min(nlaAlign(l), len(b)):]
	}
}

func (t *taskstats) resolveFamily(name string) (uint16, error) {
	req := t.request(unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY, unix.CTRL_ATTR_FAMILY_NAME, append([]byte(name), 0))
	req[17] = genlCtrlVers
	reply, err := t.roundTrip(req)
	if err != nil {
		return 0, fmt.Errorf("generic netlink family %s: %w", name, err)
	}
	var id uint16
	attrs(reply, func(typ uint16, val []byte) {
		if typ == unix.CTRL_ATTR_FAMILY_ID && len(val) >= 2 {
			id = binary.NativeEndian.Uint16(val)
		}
	})
	if id == 0 {
		return 0, fmt.Errorf("%w: generic netlink family %s has no id", ErrParse, name)
	}
	return id, nil
}

// cgroupStats counts the threads of the v1 cgroup whose directory is open
// at dirfd.
func (t *taskstats) cgroupStats(dirfd int) (cgroupStats, error) {
	var fd [4]byte
	binary.NativeEndian.PutUint32(fd[:], uint32(dirfd))
	reply, err := t.roundTrip(t.request(t.family, unix.CGROUPSTATS_CMD_GET, unix.CGROUPSTATS_CMD_ATTR_FD, fd[:]))
	if err != nil {
		return cgroupStats{}, err
	}
	var s cgroupStats
	found := false
	attrs(reply, func(typ uint16, val []byte) {
		if typ == unix.CGROUPSTATS_TYPE_CGROUP_STATS && len(val) >= 40 {
			s = parseCgroupStats(val)
			found = true
		}
	})
	if !found {
		return cgroupStats{}, fmt.Errorf("%w: cgroupstats reply without stats", ErrParse)
	}
	return s, nil
}

// parseCgroupStats decodes struct cgroupstats (five native-endian u64:
// nr_sleeping, nr_running, nr_stopped, nr_uninterruptible, nr_io_wait).
// b must hold at least 40 bytes.
func parseCgroupStats(b []byte) cgroupStats {
	u := func(i int) uint64 { return binary.NativeEndian.Uint64(b[8*i:]) }
	return cgroupStats{Sleeping: u(0), Running: u(1), Stopped: u(2), Uninterruptible: u(3), IOWait: u(4)}
}

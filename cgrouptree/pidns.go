package cgrouptree

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pidNS is a pid namespace a reader or writer lives in, held open.
type pidNS struct {
	procFS string
	fd     int
	ino    uint64
	dev    uint64
	// level is the namespace's depth below the daemon's: the index of the
	// process's number in NSpid.
	level int
	// self is set for the daemon's own namespace: no translation.
	self bool
	// noIoctl makes translations use NSpid and NS_GET_PARENT, as on
	// kernels before 6.11; tests set it.
	noIoctl bool
}

// openPidNS opens the pid namespace of thread tid, whose NSpid is nspid.
func (t *Tree) openPidNS(tid int, nspid []int) (*pidNS, error) {
	name := t.procFS + "/" + strconv.Itoa(tid) + "/ns/pid"
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	ns := &pidNS{procFS: t.procFS, fd: fd, ino: st.Ino, dev: st.Dev, level: len(nspid) - 1, noIoctl: t.noIoctl}
	ns.self = ns.level == 0 && st.Ino == t.selfNS.ino && st.Dev == t.selfNS.dev
	return ns, nil
}

func (ns *pidNS) close() {
	if ns != nil && ns.fd >= 0 {
		unix.Close(ns.fd)
		ns.fd = -1
	}
}

// nsIoctl runs one of the NS_GET_*_PIDNS ioctls; errNoIoctl when the
// kernel lacks them.
func (ns *pidNS) nsIoctl(req uint, pid int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ns.fd), uintptr(req), uintptr(pid))
	switch {
	case errno == unix.ENOTTY || errno == unix.EINVAL:
		return 0, errNoIoctl
	case errno != 0:
		return 0, errno
	case int(r) <= 0:
		return 0, unix.ESRCH
	}
	return int(r), nil
}

var errNoIoctl = errors.New("nsfs pid translation ioctls not supported")

// fromHost returns the number the daemon-side pid has in ns; ok is false
// when ns cannot see it.
func (ns *pidNS) fromHost(pid int, thread bool) (int, bool) {
	if ns.self {
		return pid, true
	}
	if !ns.noIoctl {
		req := uint(unix.NS_GET_TGID_IN_PIDNS)
		if thread {
			req = unix.NS_GET_PID_IN_PIDNS
		}
		n, err := ns.nsIoctl(req, pid)
		if err == nil {
			return n, true
		}
		if !errors.Is(err, errNoIoctl) {
			return 0, false
		}
		ns.noIoctl = true
	}
	st, err := readStatus(ns.procFS, pid)
	if err != nil || len(st.NSpid) <= ns.level {
		return 0, false
	}
	if !thread && st.TGID != pid {
		return 0, false
	}
	if !ns.isAncestorOf(pid, len(st.NSpid)-1) {
		return 0, false
	}
	return st.NSpid[ns.level], true
}

// isAncestorOf reports whether ns is the pid namespace of pid, or an
// ancestor of it; depth is the level of pid's own namespace.
func (ns *pidNS) isAncestorOf(pid, depth int) bool {
	name := ns.procFS + "/" + strconv.Itoa(pid) + "/ns/pid"
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	for i := depth; i > ns.level; i-- {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.NS_GET_PARENT), 0)
		unix.Close(fd)
		if errno != 0 {
			return false
		}
		fd = int(r)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	return st.Ino == ns.ino && st.Dev == ns.dev
}

// toHost returns the daemon-side pid of the thread (or process) that has
// number n in ns.
func (ns *pidNS) toHost(n int, thread bool) (int, error) {
	if ns.self {
		return n, nil
	}
	if !ns.noIoctl {
		req := uint(unix.NS_GET_TGID_FROM_PIDNS)
		if thread {
			req = unix.NS_GET_PID_FROM_PIDNS
		}
		pid, err := ns.nsIoctl(req, n)
		if err == nil {
			// A thread's number written to cgroup.procs names its
			// process, as in the kernel.
			return pid, nil
		}
		if !errors.Is(err, errNoIoctl) {
			return 0, unix.ESRCH
		}
		ns.noIoctl = true
	}
	return ns.scanToHost(n, thread)
}

// scanToHost finds the thread with number n in ns among all threads the
// daemon sees: only on kernels without the ioctls.
func (ns *pidNS) scanToHost(n int, thread bool) (int, error) {
	procs, err := os.ReadDir(ns.procFS)
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		tgid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		tids := []int{tgid}
		if thread {
			tasks, err := os.ReadDir(ns.procFS + "/" + p.Name() + "/task")
			if err != nil {
				continue
			}
			tids = tids[:0]
			for _, e := range tasks {
				if tid, err := strconv.Atoi(e.Name()); err == nil {
					tids = append(tids, tid)
				}
			}
		}
		for _, tid := range tids {
			st, err := readStatus(ns.procFS, tid)
			if err != nil || len(st.NSpid) <= ns.level || st.NSpid[ns.level] != n {
				continue
			}
			if ns.isAncestorOf(tid, len(st.NSpid)-1) {
				if !thread {
					return st.TGID, nil
				}
				return tid, nil
			}
		}
	}
	return 0, fmt.Errorf("no task %d in the pid namespace: %w", n, unix.ESRCH)
}

// readStatus reads and parses ProcFS/<pid>/status.
func readStatus(procFS string, pid int) (Status, error) {
	b, err := os.ReadFile(procFS + "/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(b)
}

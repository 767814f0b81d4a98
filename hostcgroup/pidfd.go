package hostcgroup

import (
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Callers pinned by pidfd.
//
// What ContainerInit works out for a calling thread (its pid namespace, its
// process and that process's start time) never changes while the thread
// lives. On a real /proc the result is kept with a pidfd of the thread
// (pidfd_open with PIDFD_THREAD, Linux 6.9+): a pidfd names one task, never
// a later task that reuses its number, and pidfd_send_signal(fd, 0) fails
// with ESRCH once that task is gone. So a request from a known thread costs
// one cheap system call instead of reading /proc/<tid>/stat, and a reused
// tid is always looked up afresh.
//
// Without pidfds (older kernels, fixture trees) nothing is cached here.

type pinnedThreads struct {
	// mu is held (read) across every use of an fd, and (write) to close
	// one, so that no fd is used after it was closed and reused.
	mu sync.RWMutex
	m  map[int]pinnedThread
	// on is set by New when ProcFS is the daemon's own procfs.
	on bool
	// max bounds the pinned threads (one or two fds each); past it the
	// cache starts over. New keeps it within a quarter of the fd limit.
	max int
}

type pinnedThread struct {
	pidfd int
	ns    nsID
	// ref is the thread's process for a thread of the daemon's namespace,
	// or the init of its namespace for a thread of a container; zero when
	// not known.
	ref Process
	// initfd pins the container's init (ref) when container is set, or is
	// -1: the init is then looked up.
	initfd    int
	container bool
}

func (e pinnedThread) close() {
	unix.Close(e.pidfd)
	if e.initfd >= 0 {
		unix.Close(e.initfd)
	}
}

// lookup returns what is known of the live thread tid.
func (p *pinnedThreads) lookup(tid int) (pinnedThread, bool) {
	if !p.on {
		return pinnedThread{}, false
	}
	p.mu.RLock()
	e, ok := p.m[tid]
	alive := ok && unix.PidfdSendSignal(e.pidfd, 0, nil, 0) == nil
	if alive && e.container && e.initfd >= 0 && unix.PidfdSendSignal(e.initfd, 0, nil, 0) != nil {
		// The init is gone: look it up again.
		e.ref, e.container = Process{}, false
	}
	p.mu.RUnlock()
	if ok && !alive {
		p.forget(tid, e.pidfd)
	}
	return e, alive
}

// open returns a pidfd of thread tid to pin it before its files are read,
// or -1.
func (p *pinnedThreads) open(tid int) int {
	if !p.on {
		return -1
	}
	fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	if err != nil {
		return -1
	}
	return fd
}

// store keeps e if its thread is still alive, which proves that what was
// read about tid after open belonged to it; else it closes the fd.
func (p *pinnedThreads) store(tid int, e pinnedThread) {
	if e.pidfd < 0 {
		if e.initfd >= 0 {
			unix.Close(e.initfd)
		}
		return
	}
	if unix.PidfdSendSignal(e.pidfd, 0, nil, 0) != nil {
		e.close()
		return
	}
	p.mu.Lock()
	if p.m == nil || len(p.m) >= p.max {
		for _, old := range p.m {
			old.close()
		}
		p.m = make(map[int]pinnedThread)
	}
	if old, ok := p.m[tid]; ok {
		old.close()
	}
	p.m[tid] = e
	p.mu.Unlock()
}

func (p *pinnedThreads) forget(tid, pidfd int) {
	p.mu.Lock()
	if e, ok := p.m[tid]; ok && e.pidfd == pidfd {
		delete(p.m, tid)
		e.close()
	}
	p.mu.Unlock()
}

// ownProcFS reports whether procFS is a procfs showing the daemon's own pid
// namespace, where pidfd_open takes the same numbers.
func ownProcFS(procFS string) bool {
	var st unix.Statfs_t
	if unix.Statfs(procFS, &st) != nil || uint32(st.Type) != unix.PROC_SUPER_MAGIC {
		return false
	}
	self, err := os.Readlink(procFS + "/self")
	return err == nil && self == strconv.Itoa(os.Getpid())
}

// pinInit opens a pidfd of the container init p for e, checking afterwards
// that p.PID still names that process.
func (v *View) pinInit(e *pinnedThread, p Process) {
	if e.pidfd < 0 {
		return
	}
	fd, err := unix.PidfdOpen(p.PID, 0)
	if err != nil {
		return
	}
	if q, err := v.process(p.PID); err != nil || q.StartTicks != p.StartTicks {
		unix.Close(fd)
		return
	}
	e.ref, e.initfd, e.container = p, fd, true
}

package hostcgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/internal/genmap"
)

// Process names a process and pins it against PID reuse: the same PID with
// another StartTicks is another process.
type Process struct {
	PID int
	// StartTicks is field 22 (starttime) of /proc/<pid>/stat: clock ticks
	// since boot when the process started.
	StartTicks uint64
}

// nsID identifies a namespace: the device and inode of its nsfs file.
type nsID struct {
	dev, ino uint64
}

// minPruneAt is the cache size below which the init cache is never pruned.
const minPruneAt = 256

// initCache maps a pid namespace inode to the init (PID 1) of that
// namespace, as the daemon sees it.
type initCache struct {
	mu     sync.Mutex
	self   nsID // the daemon's own pid namespace, once known
	selfOK bool
	// selfInit is PID 1 of the daemon's own namespace, once known.
	selfInit   Process
	selfInitOK bool
	// threads caches each calling thread's namespace and process; threads
	// that have not called for a minute or two are forgotten.
	threads *genmap.Map[int, threadEntry]
	m       map[uint64]Process
	pruneAt int  // prune when len(m) grows past this
	pruning bool // a prune is running
	// noIoctl makes lookups scan ProcFS as on kernels without
	// NS_GET_TGID_FROM_PIDNS; tests set it.
	noIoctl bool
}

// ContainerInit finds whose cgroups a FUSE request from thread tid should
// see. ref is the process whose cgroups to use; init is the init (PID 1) of
// tid's pid namespace, whose start time gives the container's uptime.
//
// A caller in the daemon's own pid namespace uses its own cgroups (ref is
// tid's process, init is PID 1). A caller in another pid namespace uses
// that namespace's init (ref == init). The init is found without forking:
// with ioctl NS_GET_TGID_FROM_PIDNS (Linux 6.11+) on the caller's ns/pid, or
// else by scanning ProcFS for the process of that namespace whose NSpid
// ends in 1 (Linux 4.1+). It is cached by namespace inode and revalidated
// on every hit by its start time and namespace, so a recycled PID is never
// taken for the init.
//
// A tid of 0 (kernel-issued requests, callers invisible in the daemon's pid
// namespace) or a caller that is gone gives an error wrapping ErrNoProcess.
func (v *View) ContainerInit(tid int) (ref Process, init Process, err error) {
	if tid <= 0 {
		return Process{}, Process{}, fmt.Errorf("%w: pid %d", ErrNoProcess, tid)
	}
	if e, ok := v.pinned.lookup(tid); ok {
		switch {
		case e.container:
			return e.ref, e.ref, nil
		case e.ref.PID > 0:
			if init, err = v.selfInit(); err == nil {
				return e.ref, init, nil
			}
		default:
			if p, ok := v.cachedInit(e.ns.ino); ok {
				return p, p, nil
			}
		}
	}
	pin := pinnedThread{pidfd: v.pinned.open(tid), initfd: -1}
	defer func() {
		if err == nil {
			v.pinned.store(tid, pin)
		} else if pin.pidfd >= 0 {
			pin.close()
		}
	}()
	ns, err := v.threadNS(tid)
	if err != nil {
		return Process{}, Process{}, noProcess(err)
	}
	pin.ns = ns
	self, err := v.selfPidNS()
	if err != nil {
		return Process{}, Process{}, err
	}
	if ns == self {
		tgid, thread, err := v.threadGroup(tid)
		if err != nil {
			return Process{}, Process{}, err
		}
		if tgid == tid {
			ref = thread
		} else if ref, err = v.process(tgid); err != nil {
			return Process{}, Process{}, noProcess(err)
		}
		if init, err = v.selfInit(); err != nil {
			return Process{}, Process{}, err
		}
		pin.ref = ref
		return ref, init, nil
	}
	if p, ok := v.cachedInit(ns.ino); ok {
		v.pinInit(&pin, p)
		return p, p, nil
	}
	p, err := v.findInit(tid, ns)
	if err != nil {
		return Process{}, Process{}, err
	}
	v.storeInit(ns.ino, p)
	v.pinInit(&pin, p)
	return p, p, nil
}

// threadNS is the pid namespace of thread tid. A task's pid namespace never
// changes, so it is cached by tid and start time; a reused tid has another
// start time and is looked up afresh. Without a readable stat it is looked
// up every time.
func (v *View) threadNS(tid int) (nsID, error) {
	thread, err := v.process(tid)
	if err != nil {
		return v.pidNS(tid)
	}
	c := &v.inits
	e, ok := c.threads.Get(tid)
	if ok && e.start == thread.StartTicks {
		return e.ns, nil
	}
	ns, err := v.pidNS(tid)
	if err != nil {
		return nsID{}, err
	}
	// The namespace must belong to the thread whose start time we have.
	if again, err := v.process(tid); err != nil || again.StartTicks != thread.StartTicks {
		return nsID{}, fmt.Errorf("%w: thread %d was replaced", ErrNoProcess, tid)
	}
	c.threads.Put(tid, threadEntry{start: thread.StartTicks, ns: ns})
	return ns, nil
}

// threadGroup returns the thread group (process) of thread tid and tid's
// own start time. The tgid of a thread never changes while the thread
// lives, so it is cached by tid and start time: a reused tid has another
// start time and is looked up afresh in /proc/<tid>/status.
func (v *View) threadGroup(tid int) (tgid int, thread Process, err error) {
	if thread, err = v.process(tid); err != nil {
		return 0, Process{}, noProcess(err)
	}
	c := &v.inits
	e, ok := c.threads.Get(tid)
	if ok && e.start == thread.StartTicks && e.tgid > 0 {
		return e.tgid, thread, nil
	}
	name := v.procPath(tid, "status")
	b, err := v.host.ReadFile(name)
	if err != nil {
		return 0, Process{}, noProcess(err)
	}
	s, ok := hostfs.ParseStatusField(b, "Tgid")
	tgid, err = strconv.Atoi(s)
	if !ok || err != nil || tgid <= 0 {
		return 0, Process{}, fmt.Errorf("%w: %s: bad Tgid %q", ErrParse, name, s)
	}
	// The status read must belong to the thread whose start time we have.
	if again, err := v.process(tid); err != nil || again.StartTicks != thread.StartTicks {
		return 0, Process{}, fmt.Errorf("%w: thread %d was replaced", ErrNoProcess, tid)
	}
	if old, ok := c.threads.Get(tid); ok && old.start == thread.StartTicks {
		old.tgid = tgid
		c.threads.Put(tid, old)
	}
	return tgid, thread, nil
}

// threadCacheMax bounds each generation of the thread cache.
const threadCacheMax = 1 << 14

func newThreadCache() *genmap.Map[int, threadEntry] {
	return genmap.New[int, threadEntry](time.Minute, threadCacheMax)
}

// threadEntry is what never changes while a thread lives: its pid
// namespace and its process. start is the thread's start time, which tells
// a reused tid apart; tgid is 0 until looked up.
type threadEntry struct {
	start uint64
	ns    nsID
	tgid  int
}

// selfInit is PID 1 of the daemon's own pid namespace, read once: it lives
// as long as the namespace, and so as long as the daemon.
func (v *View) selfInit() (Process, error) {
	c := &v.inits
	c.mu.Lock()
	p, ok := c.selfInit, c.selfInitOK
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := v.process(1)
	if err != nil {
		return Process{}, fmt.Errorf("hostcgroup: pid 1: %w", err)
	}
	c.mu.Lock()
	c.selfInit, c.selfInitOK = p, true
	c.mu.Unlock()
	return p, nil
}

// noProcess wraps err in ErrNoProcess when it says the process is gone.
func noProcess(err error) error {
	if isGone(err) {
		return fmt.Errorf("%w: %v", ErrNoProcess, err)
	}
	return err
}

// pidNS identifies the pid namespace of pid from ProcFS/<pid>/ns/pid.
func (v *View) pidNS(pid int) (nsID, error) {
	return statNS(v.procPath(pid, "ns/pid"))
}

func statNS(name string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil {
		return nsID{}, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return nsID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// selfPidNS is the daemon's own pid namespace, read once.
func (v *View) selfPidNS() (nsID, error) {
	c := &v.inits
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.selfOK {
		return c.self, nil
	}
	ns, err := statNS(v.procFS + "/self/ns/pid")
	if err != nil {
		return nsID{}, fmt.Errorf("hostcgroup: own pid namespace: %w", err)
	}
	c.self, c.selfOK = ns, true
	return ns, nil
}

// process reads the start time of pid.
func (v *View) process(pid int) (Process, error) {
	name := v.procPath(pid, "stat")
	b, err := v.host.ReadFile(name)
	if err != nil {
		return Process{}, err
	}
	start, err := hostfs.ParseStatStartTicks(b)
	if err != nil {
		return Process{}, fmt.Errorf("%s: %w", name, err)
	}
	return Process{PID: pid, StartTicks: start}, nil
}

// isInit reports whether p is still the same process and still in pid
// namespace ino. The namespace is checked after the start time, so a PID
// recycled in between is caught by one check or the other.
func (v *View) isInit(p Process, ino uint64) bool {
	q, err := v.process(p.PID)
	if err != nil || q.StartTicks != p.StartTicks {
		return false
	}
	ns, err := v.pidNS(p.PID)
	return err == nil && ns.ino == ino
}

func (v *View) cachedInit(ino uint64) (Process, bool) {
	c := &v.inits
	c.mu.Lock()
	p, ok := c.m[ino]
	c.mu.Unlock()
	if !ok {
		return Process{}, false
	}
	if v.isInit(p, ino) {
		return p, true
	}
	c.mu.Lock()
	if c.m[ino] == p {
		delete(c.m, ino)
	}
	c.mu.Unlock()
	return Process{}, false
}

// storeInit caches p as the init of namespace ino. When the cache has
// doubled since the last prune, entries whose init is gone are dropped, so
// memory follows the number of live containers.
func (v *View) storeInit(ino uint64, p Process) {
	c := &v.inits
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[uint64]Process)
	}
	c.m[ino] = p
	var entries map[uint64]Process
	if len(c.m) > max(c.pruneAt, minPruneAt) && !c.pruning {
		c.pruning = true
		entries = maps.Clone(c.m)
	}
	c.mu.Unlock()
	if entries == nil {
		return
	}
	// Validate without the lock: it reads two files per entry.
	var dead []uint64
	for k, q := range entries {
		if !v.isInit(q, k) {
			dead = append(dead, k)
		}
	}
	c.mu.Lock()
	for _, k := range dead {
		if c.m[k] == entries[k] {
			delete(c.m, k)
		}
	}
	c.pruneAt = 2 * len(c.m)
	c.pruning = false
	c.mu.Unlock()
}

// errNoIoctl says the kernel lacks NS_GET_TGID_FROM_PIDNS (before 6.11), or
// ns/pid is not an nsfs file (fixture trees).
var errNoIoctl = errors.New("NS_GET_TGID_FROM_PIDNS not supported")

// findInit looks up the init of tid's pid namespace ns.
func (v *View) findInit(tid int, ns nsID) (Process, error) {
	if !v.inits.noIoctl {
		pid, err := v.initByIoctl(tid, ns)
		switch {
		case err == nil:
			p, err := v.process(pid)
			if err == nil && v.isInit(p, ns.ino) {
				return p, nil
			}
			// The init exited just now: its namespace is being torn down.
			return Process{}, fmt.Errorf("%w: init %d of the pid namespace of %d exited", ErrNoProcess, pid, tid)
		case !errors.Is(err, errNoIoctl):
			return Process{}, err
		}
	}
	return v.initByScan(tid, ns)
}

// initByIoctl asks the kernel for the PID, in the daemon's namespace, of PID
// 1 of the namespace ns/pid of tid refers to.
func (v *View) initByIoctl(tid int, ns nsID) (int, error) {
	name := v.procPath(tid, "ns/pid")
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, noProcess(&fs.PathError{Op: "open", Path: name, Err: err})
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, &fs.PathError{Op: "fstat", Path: name, Err: err}
	}
	if (nsID{dev: uint64(st.Dev), ino: st.Ino}) != ns {
		// tid exited and its number was reused between stat and open.
		return 0, fmt.Errorf("%w: thread %d was replaced", ErrNoProcess, tid)
	}
	// The argument is a PID value, not a pointer: unix.IoctlRetInt cannot
	// pass it.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.NS_GET_TGID_FROM_PIDNS), 1)
	switch {
	case errno == unix.ENOTTY || errno == unix.EINVAL:
		return 0, errNoIoctl
	case errno == unix.ESRCH || (errno == 0 && int(r) <= 0):
		return 0, fmt.Errorf("%w: the pid namespace of %d has no init", ErrNoProcess, tid)
	case errno != 0:
		return 0, fmt.Errorf("hostcgroup: %s: %w", name, os.NewSyscallError("ioctl NS_GET_TGID_FROM_PIDNS", errno))
	}
	return int(r), nil
}

// initByScan finds the init of ns among the processes listed in ProcFS: the
// one in ns whose NSpid line ends in 1. It costs a stat per process and
// suits only kernels without the ioctl.
func (v *View) initByScan(tid int, ns nsID) (Process, error) {
	entries, err := os.ReadDir(v.procFS)
	if err != nil {
		return Process{}, fmt.Errorf("hostcgroup: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if pns, err := v.pidNS(pid); err != nil || pns != ns {
			continue
		}
		b, err := v.host.ReadFile(v.procPath(pid, "status"))
		if err != nil {
			continue
		}
		nspid, ok := hostfs.ParseStatusField(b, "NSpid")
		if !ok || lastField(nspid) != "1" {
			continue
		}
		p, err := v.process(pid)
		if err != nil || !v.isInit(p, ns.ino) {
			continue
		}
		return p, nil
	}
	if _, err := v.pidNS(tid); err != nil {
		return Process{}, noProcess(err)
	}
	return Process{}, fmt.Errorf("hostcgroup: no process with NSpid ending in 1 shares the pid namespace of %d", tid)
}

func lastField(s string) string {
	f := bytes.Fields([]byte(s))
	if len(f) == 0 {
		return ""
	}
	return string(f[len(f)-1])
}

// PIDIn is the first of the threads pids (host pids) that the pid
// namespace of thread reader numbers, as it numbers it, read from the
// NSpid lines of /proc/<pid>/status: the entry at the reader's depth. ok is
// false when the reader is gone, or none of pids has a number there (gone,
// or outside the reader's namespace: shallower, or a process of another
// namespace at the same depth). A pid in a namespace nested below the
// reader's is numbered by its entry at the reader's depth, which is right
// when the nested namespace descends from the reader's, as inside a
// container it does. The reader's status is read once for all of pids.
func (v *View) PIDIn(reader int, pids ...int) (int, bool) {
	readerNS, ok := v.nspid(reader)
	if !ok {
		return 0, false
	}
	if len(readerNS) == 1 {
		// The reader is in the namespace our /proc numbers pids in: a
		// pid is its number there, whether or not the thread still runs.
		for _, pid := range pids {
			if pid > 0 {
				return pid, true
			}
		}
		return 0, false
	}
	depth := len(readerNS) - 1
	var readerPidNS *nsID
	for _, pid := range pids {
		pidNS, ok := v.nspid(pid)
		if !ok || len(pidNS) <= depth {
			continue
		}
		if len(pidNS) == len(readerNS) {
			if readerPidNS == nil {
				b, err := v.pidNS(reader)
				if err != nil {
					return 0, false
				}
				readerPidNS = &b
			}
			if a, err := v.pidNS(pid); err != nil || a != *readerPidNS {
				continue
			}
		}
		if n, err := strconv.Atoi(pidNS[depth]); err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}

func (v *View) nspid(pid int) ([]string, bool) {
	b, err := v.host.ReadFile(v.procPath(pid, "status"))
	if err != nil {
		return nil, false
	}
	s, ok := hostfs.ParseStatusField(b, "NSpid")
	if !ok {
		return nil, false
	}
	f := strings.Fields(s)
	return f, len(f) > 0
}

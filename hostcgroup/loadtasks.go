package hostcgroup

import (
	"time"

	"errors"
	"fmt"
	"github.com/lxcfs-go/lxcfs-go/internal/genmap"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// LoadCgroup is the cgroup whose tasks make up a container's load average:
// the container's cgroup in the v1 cpu hierarchy, or in the unified one on
// v2 (and on hybrid hosts without a v1 cpu hierarchy).
type LoadCgroup struct {
	// Dir is the cgroup's directory (MountPrefix, mount point and path).
	Dir string
	// V1 is true for a v1 hierarchy, whose tasks files list threads and
	// whose cgroups taskstats can count.
	V1 bool
}

// LoadCount is one sample of a cgroup subtree's tasks.
type LoadCount struct {
	// Running counts threads in state R; Uninterruptible those in state D.
	// Their sum is what the kernel's load average counts.
	Running, Uninterruptible int
	// Total counts every thread of the subtree.
	Total int
	// LastPID is the largest thread id seen (host numbering, as lxcfs
	// prints it); 0 when the counting method does not list threads.
	LastPID int
}

// Active is the number the load average follows: runnable plus
// uninterruptible threads.
func (c LoadCount) Active() int { return c.Running + c.Uninterruptible }

// ErrCgroupGone is wrapped when a counted cgroup directory no longer exists.
var ErrCgroupGone = errCgroupGone

// LoadCgroup returns the cgroup the load average of a process in cg follows;
// false when there is none (no cpu hierarchy and no unified one, or a path
// outside the mount) or when it is a hierarchy's root: the host's own
// loadavg is right for the root.
func (v *View) LoadCgroup(cg Cgroups) (LoadCgroup, bool) {
	var d cgroupDir
	var ok, v1 bool
	switch {
	case v.cpu != nil && v.cpu.Version == 1:
		d, ok = v.dir(v.cpu, cg, "cpu")
		v1 = true
	case v.layout.Unified != nil:
		d, ok = v.dir(v.layout.Unified, cg, "")
	}
	if !ok || d.path == "/" {
		return LoadCgroup{}, false
	}
	return LoadCgroup{Dir: d.base + d.path, V1: v1}, true
}

// maxLoadCgroups bounds the cgroups one count visits below a tracked
// cgroup, so that a container with a huge tree cannot stall the sampler.
const maxLoadCgroups = 4096

// maxTaskFDs bounds the per-thread stat fds a LoadCounter keeps open; past
// it, threads are read with open, pread, close.
const maxTaskFDs = 1 << 16

// LoadCounter counts the tasks of cgroup subtrees by state, cheaply enough
// to run every 5 s over thousands of cgroups:
//
//   - v1: one taskstats netlink request (CGROUPSTATS_CMD_GET) per cgroup
//     directory gives its counts of running and uninterruptible threads;
//     the kernel walks the cgroup's task list. Nothing is opened per
//     thread. The tasks file is read once per cgroup for the total and the
//     largest thread id. The kernel matches states exactly, so a thread in
//     TASK_KILLABLE (D in /proc, e.g. waiting on a FUSE reply) is not
//     counted as uninterruptible there; TASK_UNINTERRUPTIBLE I/O waits are.
//   - v2 (taskstats refuses cgroup2 directories), and v1 when taskstats is
//     unavailable: the thread list (cgroup.threads, v1 tasks) is read per
//     cgroup, and each thread's /proc/<tid>/stat is kept open and re-read
//     with pread(2) at every sample; only new threads cost an open.
//
// It is not safe for concurrent use; the loadavg sampler calls it from one
// goroutine.
type LoadCounter struct {
	procFS string
	nl     *taskstats // nil when taskstats is unavailable
	nlErr  error
	fds    map[string]*taskFDs // per tracked cgroup
	nfds   int
	buf    []byte
	// lists caches, per cgroup directory counted with taskstats, the
	// thread total and largest id from its tasks file, read again after
	// TaskListRefresh: the tasks file is the costliest read of a v1
	// sample (the kernel builds and sorts a pid array), and only the
	// loadavg line's total and last-pid fields use it.
	lists *genmap.Map[string, taskList]
	// Now is the clock of that cache (tests replace it).
	Now func() time.Time
}

// TaskListRefresh is how long the thread total and last pid of a cgroup
// counted with taskstats are reused.
const TaskListRefresh = 15 * time.Second

type taskList struct {
	total, lastPID int
	at             time.Time
}

// taskFDs are the open /proc/<tid>/stat fds of one tracked cgroup.
type taskFDs struct {
	fd   map[int]int
	seen map[int]bool
}

// NewLoadCounter returns a counter reading threads below procFS ("/proc").
// It opens the taskstats socket lazily.
func NewLoadCounter(procFS string) *LoadCounter {
	if procFS == "" {
		procFS = "/proc"
	}
	return &LoadCounter{procFS: procFS, fds: map[string]*taskFDs{}, buf: make([]byte, 64<<10),
		lists: genmap.New[string, taskList](time.Minute, maxLoadCgroups), Now: time.Now}
}

// Close releases every fd the counter holds.
func (c *LoadCounter) Close() {
	for k := range c.fds {
		c.Forget(LoadCgroup{Dir: k})
	}
	if c.nl != nil {
		c.nl.close()
		c.nl = nil
	}
}

// Forget closes what the counter keeps for cg.
func (c *LoadCounter) Forget(cg LoadCgroup) {
	t := c.fds[cg.Dir]
	if t == nil {
		return
	}
	for _, fd := range t.fd {
		unix.Close(fd)
	}
	c.nfds -= len(t.fd)
	delete(c.fds, cg.Dir)
}

// Method says how Count counts cg: "taskstats" or "pread".
func (c *LoadCounter) Method(cg LoadCgroup) string {
	if cg.V1 && c.taskstats() != nil {
		return "taskstats"
	}
	return "pread"
}

func (c *LoadCounter) taskstats() *taskstats {
	if c.nl == nil && c.nlErr == nil {
		c.nl, c.nlErr = openTaskstats()
	}
	return c.nl
}

// Count counts the threads of cg and its descendants. The error wraps
// ErrCgroupGone when cg's directory has gone.
func (c *LoadCounter) Count(cg LoadCgroup) (LoadCount, error) {
	var n LoadCount
	dirs := []string{cg.Dir}
	var t *taskFDs
	useNL := cg.V1 && c.taskstats() != nil
	if !useNL {
		t = c.fds[cg.Dir]
		if t == nil {
			t = &taskFDs{fd: map[int]int{}, seen: map[int]bool{}}
			c.fds[cg.Dir] = t
		}
		clear(t.seen)
	}
	threads := "cgroup.threads"
	if cg.V1 {
		threads = "tasks"
	}
	for i := 0; i < len(dirs); i++ {
		dir := dirs[i]
		dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			if i == 0 {
				if errors.Is(err, unix.ENOENT) {
					return n, fmt.Errorf("%s: %w", dir, ErrCgroupGone)
				}
				return n, fmt.Errorf("%s: %w", dir, err)
			}
			continue // a child removed meanwhile
		}
		if useNL {
			s, err := c.nl.cgroupStats(dfd)
			if err != nil {
				unix.Close(dfd)
				if i == 0 {
					return n, fmt.Errorf("%s: taskstats: %w", dir, err)
				}
				continue
			}
			n.Running += int(s.Running)
			n.Uninterruptible += int(s.Uninterruptible)
			// cgroupstats_build matches __state exactly, so since Linux
			// 6.1 freezable sleeps (TASK_INTERRUPTIBLE|TASK_FREEZABLE,
			// e.g. nanosleep) fall in none of its counters: the thread
			// list gives the total.
			if l, ok := c.taskList(dfd, dir, threads, int(s.Running+s.Uninterruptible)); ok {
				n.Total += l.total
				n.LastPID = max(n.LastPID, l.lastPID)
			} else {
				n.Total += int(s.Running + s.Sleeping + s.Uninterruptible + s.Stopped + s.IOWait)
			}
		} else if tids, err := c.readTIDs(dfd, threads); err == nil {
			for _, tid := range tids {
				n.LastPID = max(n.LastPID, tid)
			}
			c.countStates(t, tids, &n)
		} else if i == 0 {
			unix.Close(dfd)
			return n, fmt.Errorf("%s/%s: %w", dir, threads, err)
		}
		if len(dirs) < maxLoadCgroups {
			dirs = c.appendSubdirs(dirs, dfd, dir)
		}
		unix.Close(dfd)
	}
	if t != nil {
		for tid, fd := range t.fd {
			if !t.seen[tid] {
				unix.Close(fd)
				delete(t.fd, tid)
				c.nfds--
			}
		}
	}
	return n, nil
}

// taskList returns the thread total and largest id of the cgroup open at
// dfd, from its thread list at most TaskListRefresh old, and never fewer
// than the active threads just counted (new threads read it anew).
func (c *LoadCounter) taskList(dfd int, dir, threads string, active int) (taskList, bool) {
	now := c.Now()
	if l, ok := c.lists.Get(dir); ok && now.Sub(l.at) < TaskListRefresh && !now.Before(l.at) && l.total >= active {
		return l, true
	}
	tids, err := c.readTIDs(dfd, threads)
	if err != nil {
		return taskList{}, false
	}
	l := taskList{total: len(tids), at: now}
	for _, tid := range tids {
		l.lastPID = max(l.lastPID, tid)
	}
	c.lists.Put(dir, l)
	return l, true
}

// readTIDs reads the thread list of the cgroup open at dfd.
func (c *LoadCounter) readTIDs(dfd int, name string) ([]int, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var tids []int
	b := c.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := unix.Read(fd, b[len(b):cap(b)])
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, err
		}
		if m == 0 {
			break
		}
		b = b[:len(b)+m]
	}
	c.buf = b[:0]
	v := 0
	in := false
	for _, ch := range b {
		if ch >= '0' && ch <= '9' {
			v = v*10 + int(ch-'0')
			in = true
			continue
		}
		if in {
			tids = append(tids, v)
		}
		v, in = 0, false
	}
	if in {
		tids = append(tids, v)
	}
	return tids, nil
}

// countStates reads the state of each thread through kept-open stat fds.
func (c *LoadCounter) countStates(t *taskFDs, tids []int, n *LoadCount) {
	var stat [512]byte
	for _, tid := range tids {
		if t.seen[tid] {
			continue
		}
		fd, ok := t.fd[tid]
		if !ok {
			var err error
			fd, err = unix.Open(c.procFS+"/"+strconv.Itoa(tid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				continue // exited meanwhile
			}
			if c.nfds >= maxTaskFDs {
				st := readState(fd, stat[:])
				unix.Close(fd)
				addState(n, st)
				continue
			}
			t.fd[tid] = fd
			c.nfds++
		}
		t.seen[tid] = true
		st := readState(fd, stat[:])
		if st == 0 {
			// Exited: a kept fd of a dead thread reads ESRCH.
			unix.Close(fd)
			delete(t.fd, tid)
			c.nfds--
			delete(t.seen, tid)
			continue
		}
		addState(n, st)
	}
}

func addState(n *LoadCount, st byte) {
	switch st {
	case 0:
		return
	case 'R':
		n.Running++
	case 'D':
		n.Uninterruptible++
	}
	n.Total++
}

// readState preads /proc/<tid>/stat from offset 0 and returns the state
// letter (after the last ')'); 0 when unreadable.
func readState(fd int, buf []byte) byte {
	m, err := unix.Pread(fd, buf, 0)
	if err != nil || m <= 0 {
		return 0
	}
	b := buf[:m]
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			if i+2 < len(b) {
				return b[i+2]
			}
			return 0
		}
	}
	return 0
}

// appendSubdirs appends the child cgroups of the directory open at dfd.
func (c *LoadCounter) appendSubdirs(dirs []string, dfd int, dir string) []string {
	// The caller closes dfd; read the entries through a dup.
	nfd, err := unix.Dup(dfd)
	if err != nil {
		return dirs
	}
	df := os.NewFile(uintptr(nfd), dir)
	defer df.Close()
	entries, err := df.ReadDir(-1)
	if err != nil {
		return dirs
	}
	for _, e := range entries {
		if e.IsDir() && len(dirs) < maxLoadCgroups {
			dirs = append(dirs, dir+"/"+e.Name())
		}
	}
	return dirs
}

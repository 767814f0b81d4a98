// Package kfile reads small kernel-generated files (procfs, sysfs,
// cgroupfs) on the daemon's read path with as few system calls as possible.
//
// Every FUSE READ at offset 0 reads a handful of cgroup and /proc files.
// Opening each one with os.ReadFile costs an openat, an fstat, two reads, a
// close and the Go runtime's poller and finalizer bookkeeping, about 25 µs
// in all; the files themselves take 2-5 µs to generate.
//
// So a file that the kernel generates as one seq_file record (every cgroup
// control file we read, /proc/<pid>/{stat,status,cgroup}, /proc/meminfo,
// /proc/stat, the pressure files) can be kept open in a Cache and read with
// one pread at offset 0, which makes seq_file generate it afresh
// (fs/seq_file.c resets the iterator at offset 0). An open fd stays bound
// to what it was opened on, never to what the path names later, so any
// error drops the fd and the file is opened again by path:
//
//   - a removed cgroup's files fail with ENODEV (kernfs deactivates them),
//     so a cgroup removed and recreated under the same name is read anew;
//   - /proc/<pid> files of an exited process fail with ESRCH, so a reused
//     pid is read anew, from the new process;
//   - a process moved to another cgroup shows its new path in its
//     /proc/<pid>/cgroup at the next pread, and its files are other files.
//
// Only files on procfs, sysfs and cgroupfs are kept open (fixture trees on
// ordinary file systems may replace a file by another). Whether a name is
// one record is the caller's knowledge: a multi-record seq_file (tasks,
// cgroup.procs, /proc/swaps) can return less than the buffer before its
// end, and continuing at an offset could mix two generations; those are
// read with ReadToEOF.
package kfile

import (
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Cache keeps kernel files open by path, up to a bound. An fd not read for
// a sweep period (SweepPeriod) is closed,
// so the files of removed cgroups and exited processes do not stay open
// until the bound is reached.
type Cache struct {
	mu    sync.RWMutex
	m     map[string]*kept
	max   int
	swept atomic.Int64  // unix nanoseconds of the last sweep
	reads atomic.Uint32 // reads since start; the clock is looked at every sweepCheckEvery
	// Disabled turns keeping off (tests compare both paths).
	Disabled bool
	// Now is the clock of sweeps (tests replace it); nil means time.Now.
	Now func() time.Time
}

type kept struct {
	fd   int
	used atomic.Bool // read since the last sweep
}

// SweepPeriod is how often unused fds are closed.
const SweepPeriod = time.Minute

// NewCache returns a cache that keeps at most max fds; past it, half are
// closed.
func NewCache(max int) *Cache {
	return &Cache{m: map[string]*kept{}, max: max}
}

// FDBudget is the soft limit on open files (Go raises it to the hard limit
// at start-up), or 1024 if unknown.
func FDBudget() int {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil || rl.Cur == 0 {
		return 1024
	}
	return int(min(rl.Cur, 1<<20))
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 8192); return &b }}

// GetBuf returns a pooled read buffer; it grows to fit the largest file
// read into it.
func GetBuf() *[]byte { return bufPool.Get().(*[]byte) }

// PutBuf returns a buffer to the pool.
func PutBuf(b *[]byte) { bufPool.Put(b) }

// Read reads the one-record file name into *bp (growing it) and returns
// the content, which aliases *bp. A kernel file's fd is kept for the next
// call. Errors are *fs.PathError wrapping the errno, as os.ReadFile gives.
func (c *Cache) Read(name string, bp *[]byte) ([]byte, error) {
	if c.Disabled {
		return ReadToEOF(name, bp)
	}
	c.maybeSweep()
	c.mu.RLock()
	k, ok := c.m[name]
	if ok {
		n, err := PreadWhole(k.fd, bp)
		if !k.used.Load() {
			k.used.Store(true)
		}
		c.mu.RUnlock()
		if err == nil {
			return (*bp)[:n], nil
		}
		c.drop(name, k)
	} else {
		c.mu.RUnlock()
	}
	return c.openAndRead(name, bp)
}

// openAndRead opens name, reads it and keeps the fd when it is on a kernel
// file system.
func (c *Cache) openAndRead(name string, bp *[]byte) ([]byte, error) {
	fd, err := OpenRO(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if !OnKernelFS(fd) {
		defer unix.Close(fd)
		return ReadFD(fd, name, bp)
	}
	n, err := PreadWhole(fd, bp)
	if err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	c.mu.Lock()
	if _, ok := c.m[name]; ok || c.max <= 0 {
		// Another reader kept one meanwhile.
		unix.Close(fd)
	} else {
		if len(c.m) >= c.max {
			c.shrinkLocked()
		}
		k := &kept{fd: fd}
		k.used.Store(true)
		c.m[name] = k
	}
	c.mu.Unlock()
	return (*bp)[:n], nil
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// sweepCheckEvery is how many reads pass between looks at the clock: a
// clock read is a system call on some virtual machines' clock sources.
var sweepCheckEvery uint32 = 256

// maybeSweep sweeps when a period has passed since the last sweep.
func (c *Cache) maybeSweep() {
	if (c.reads.Add(1)-1)%sweepCheckEvery != 0 {
		return
	}
	now := c.now().UnixNano()
	last := c.swept.Load()
	if now-last < int64(SweepPeriod) && now >= last {
		return
	}
	if !c.swept.CompareAndSwap(last, now) {
		return // another reader sweeps
	}
	c.mu.Lock()
	c.sweepLocked()
	c.mu.Unlock()
}

// sweepLocked closes the fds not read since the last sweep.
func (c *Cache) sweepLocked() {
	for name, k := range c.m {
		if !k.used.Load() {
			delete(c.m, name)
			unix.Close(k.fd)
		} else {
			k.used.Store(false)
		}
	}
}

// drop closes k's fd if it is still the one kept for name.
func (c *Cache) drop(name string, k *kept) {
	c.mu.Lock()
	if cur, ok := c.m[name]; ok && cur == k {
		delete(c.m, name)
		unix.Close(k.fd)
	}
	c.mu.Unlock()
}

// shrinkLocked closes half the kept fds (map order is random enough).
func (c *Cache) shrinkLocked() {
	n := len(c.m) / 2
	for name, k := range c.m {
		if n == 0 {
			break
		}
		delete(c.m, name)
		unix.Close(k.fd)
		n--
	}
}

// Reset closes every kept fd.
func (c *Cache) Reset() {
	c.mu.Lock()
	for name, k := range c.m {
		delete(c.m, name)
		unix.Close(k.fd)
	}
	c.mu.Unlock()
}

// Len is the number of kept fds.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// Kept reports whether an fd is kept for name.
func (c *Cache) Kept(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.m[name]
	return ok
}

// PreadWhole reads a one-record file from offset 0 into *bp, growing it
// while the content fills it, so the result is one generation.
func PreadWhole(fd int, bp *[]byte) (int, error) {
	for {
		n, err := unix.Pread(fd, *bp, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n < len(*bp) {
			return n, nil
		}
		*bp = make([]byte, 2*len(*bp))
	}
}

// OpenRO opens name read-only and close-on-exec, retrying on EINTR (a
// FUSE or NFS open can be interrupted).
func OpenRO(name string) (int, error) {
	for {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// ReadToEOF opens name, reads it to the end into *bp and closes it; the
// result aliases *bp.
func ReadToEOF(name string, bp *[]byte) ([]byte, error) {
	fd, err := OpenRO(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	return ReadFD(fd, name, bp)
}

// ReadFD reads fd to the end into *bp; name is for errors.
func ReadFD(fd int, name string, bp *[]byte) ([]byte, error) {
	b := *bp
	n := 0
	for {
		if n == len(b) {
			nb := make([]byte, 2*len(b))
			copy(nb, b[:n])
			b = nb
			*bp = b
		}
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if m == 0 {
			return b[:n], nil
		}
		n += m
	}
}

// OnKernelFS reports whether fd is on procfs, sysfs or a cgroup file
// system, whose files are generated at each read and never replaced in
// place.
func OnKernelFS(fd int) bool {
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC:
		return true
	}
	return false
}

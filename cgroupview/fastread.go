package cgroupview

import (
	"io/fs"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Fast reads of the small kernel files on the read path.
//
// Every FUSE READ at offset 0 reads a handful of cgroup and /proc/<pid>
// files. Opening each one with os.ReadFile costs an openat, an fstat, two
// reads, a close and the Go runtime's poller and finalizer bookkeeping,
// about 25 µs in all; the files themselves take 2-5 µs to generate.
//
// So the files that the kernel generates as one seq_file record (every
// cgroup control file we read, /proc/<pid>/{stat,status,cgroup}) are kept
// open and read with one pread at offset 0, which makes seq_file generate
// them afresh (fs/seq_file.c resets the iterator at offset 0). An open fd
// stays bound to what it was opened on, never to what the path names
// later, so any error drops the fd and the file is opened again by path:
//
//   - a removed cgroup's files fail with ENODEV (kernfs deactivates them),
//     so a cgroup removed and recreated under the same name is read anew;
//   - /proc/<pid> files of an exited process fail with ESRCH, so a reused
//     pid is read anew, from the new process;
//   - a process moved to another cgroup shows its new path in its
//     /proc/<pid>/cgroup at the next pread, and its files are other files.
//
// Only files on procfs, sysfs and cgroupfs are kept open (fixture trees on
// ordinary file systems may replace a file by another), and only names known
// to be one record: a multi-record seq_file (tasks, cgroup.procs) can return
// less than the buffer before its end, and continuing at an offset could mix
// two generations.

// maxKeptFiles bounds the open fds of the cache; past it, half are closed.
// It is at most a quarter of the fd limit (fdBudget).
var maxKeptFiles = min(4096, fdBudget()/4)

// fdBudget is the soft limit on open files (Go raises it to the hard limit
// at start-up), or 1024 if unknown.
func fdBudget() int {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil || rl.Cur == 0 {
		return 1024
	}
	return int(min(rl.Cur, 1<<20))
}

// keptFiles is the process-wide cache of open file descriptors by path.
var keptFiles = fdCache{m: map[string]int{}}

type fdCache struct {
	mu sync.RWMutex
	m  map[string]int
	// disabled turns caching off (tests compare both paths).
	disabled bool
}

// bufPool holds read buffers; they grow to fit the largest file read.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 8192); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }

// fastReadFile reads the whole of a small file into a new slice of its
// exact length. Errors are *fs.PathError wrapping the errno, as os.ReadFile
// gives.
func fastReadFile(name string) ([]byte, error) {
	bp := getBuf()
	b, err := fastReadInto(name, bp)
	var out []byte
	if err == nil {
		out = make([]byte, len(b))
		copy(out, b)
	}
	putBuf(bp)
	return out, err
}

// fastReadInto reads name into *bp (growing it) and returns the content,
// which aliases *bp.
func fastReadInto(name string, bp *[]byte) ([]byte, error) {
	if !keptFiles.disabled && singleRecord(name) {
		keptFiles.mu.RLock()
		fd, ok := keptFiles.m[name]
		if ok {
			n, err := preadWhole(fd, bp)
			keptFiles.mu.RUnlock()
			if err == nil {
				return (*bp)[:n], nil
			}
			keptFiles.drop(name, fd)
		} else {
			keptFiles.mu.RUnlock()
		}
		return keptFiles.openAndRead(name, bp)
	}
	return readByPath(name, bp)
}

// preadWhole reads a one-record file from offset 0, retrying with a larger
// buffer while the content fills it, so the result is one generation.
func preadWhole(fd int, bp *[]byte) (int, error) {
	for {
		n, err := pread(fd, *bp, 0)
		if err != nil {
			return 0, err
		}
		if n < len(*bp) {
			return n, nil
		}
		*bp = make([]byte, 2*len(*bp))
	}
}

func pread(fd int, b []byte, off int64) (int, error) {
	for {
		n, err := unix.Pread(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// openAndRead opens name, reads it and keeps the fd when it is on a kernel
// file system.
func (c *fdCache) openAndRead(name string, bp *[]byte) ([]byte, error) {
	fd, err := openRO(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	n, err := preadWhole(fd, bp)
	if err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if !onKernelFS(fd) {
		unix.Close(fd)
		return (*bp)[:n], nil
	}
	c.mu.Lock()
	if old, ok := c.m[name]; ok {
		// Another reader kept one meanwhile.
		unix.Close(fd)
		_ = old
	} else {
		if len(c.m) >= maxKeptFiles {
			c.shrinkLocked()
		}
		c.m[name] = fd
	}
	c.mu.Unlock()
	return (*bp)[:n], nil
}

// drop closes fd if it is still the one kept for name.
func (c *fdCache) drop(name string, fd int) {
	c.mu.Lock()
	if cur, ok := c.m[name]; ok && cur == fd {
		delete(c.m, name)
		unix.Close(fd)
	}
	c.mu.Unlock()
}

// shrinkLocked closes half the kept fds (map order is random enough).
func (c *fdCache) shrinkLocked() {
	n := len(c.m) / 2
	for k, fd := range c.m {
		if n == 0 {
			break
		}
		delete(c.m, k)
		unix.Close(fd)
		n--
	}
}

// reset closes every kept fd.
func (c *fdCache) reset() {
	c.mu.Lock()
	for k, fd := range c.m {
		delete(c.m, k)
		unix.Close(fd)
	}
	c.mu.Unlock()
}

// kept reports how many fds are kept (tests).
func (c *fdCache) kept() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func openRO(name string) (int, error) {
	for {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// readByPath opens, reads to EOF and closes.
func readByPath(name string, bp *[]byte) ([]byte, error) {
	fd, err := openRO(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
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

// onKernelFS reports whether fd is on procfs, sysfs or a cgroup file system,
// whose files are generated at each read and never replaced in place.
func onKernelFS(fd int) bool {
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

// singleRecord reports whether the kernel generates the file named by its
// base name in one seq_file record, so one pread at offset 0 returns all of
// it whenever it fits the buffer.
func singleRecord(name string) bool {
	base := path.Base(name)
	switch base {
	case "stat", "status", "cgroup", // /proc/<pid>/
		"cgroup.controllers", "cgroup.subtree_control",
		"cpuacct.usage_all", "cpuacct.usage_percpu", "cpuacct.stat", "cpuacct.usage",
		"cpuset.cpus", "cpuset.effective_cpus", "cpuset.cpus.effective", "cpuset.mems", "cpuset.effective_mems",
		"io.stat":
		return true
	}
	if strings.HasPrefix(base, "memory.") {
		// Every memory.* file is one record except the slab listing.
		return base != "memory.kmem.slabinfo" && base != "memory.numa_stat"
	}
	if strings.HasPrefix(base, "cpu.") || strings.HasSuffix(base, ".pressure") {
		return true
	}
	return false
}

// isCgroupFS reports whether dir is on a cgroup v1 or v2 file system.
func isCgroupFS(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	t := uint32(st.Type)
	return t == unix.CGROUP_SUPER_MAGIC || t == unix.CGROUP2_SUPER_MAGIC
}

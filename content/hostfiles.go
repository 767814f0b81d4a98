package content

import (
	"io/fs"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/cgroupview"
)

// Host files on the read path.
//
// Every virtual file starts from a host file (/proc/meminfo, /proc/stat,
// ...). os.ReadFile costs about 25 µs of open, fstat, reads, close and Go
// poller bookkeeping per call. Instead:
//
//   - files the kernel generates as one seq_file record (meminfo, stat,
//     uptime, loadavg, pressure/*, the sys cpu lists) are kept open and read
//     with one pread at offset 0, which regenerates them; any error drops
//     the fd and the next read opens the path again;
//   - the online CPU list is parsed only when its text changes;
//   - /proc/cpuinfo, the costliest to generate (the kernel samples every
//     CPU's frequency), is read at most once per cpuinfoTTL and again
//     whenever the online CPU list changes (hotplug);
//   - other files (multi-record seq_files such as swaps and diskstats, and
//     anything not on procfs or sysfs, like test fixtures) are opened and
//     read to EOF with plain system calls every time.

// cpuinfoTTL is how long /proc/cpuinfo text is reused while the online CPU
// list stays the same; within it only "cpu MHz" can drift.
const cpuinfoTTL = time.Second

var hostFiles = hostCache{fds: map[string]int{}}

type hostCache struct {
	mu  sync.RWMutex
	fds map[string]int

	online  atomic.Pointer[onlineEntry]  // by path
	cpuinfo atomic.Pointer[cpuinfoEntry] // by path
}

type onlineEntry struct {
	path string
	raw  string
	set  cgroupview.CPUSet
}

type cpuinfoEntry struct {
	path   string
	online string // the online list it was read under
	at     time.Time
	text   []byte
}

var hostBufPool = sync.Pool{New: func() any { b := make([]byte, 16384); return &b }}

// readHost returns the content of the host file name, owned by the caller
// (or, for cpuinfo, shared and never modified). online is the host's online
// CPU list, whose changes refresh cpuinfo.
func readHost(name, online string) ([]byte, error) {
	base := path.Base(name)
	if base == "cpuinfo" {
		return hostFiles.readCPUInfo(name, online)
	}
	bp := hostBufPool.Get().(*[]byte)
	defer hostBufPool.Put(bp)
	var b []byte
	var err error
	if hostSingleRecord(base) {
		b, err = hostFiles.readKept(name, bp)
	} else {
		b, err = readToEOF(name, bp)
	}
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// hostOnlineSet is the host's online CPU list from the file name; an
// unreadable or empty list gives CPU 0 alone.
func hostOnlineSet(name string) cgroupview.CPUSet {
	bp := hostBufPool.Get().(*[]byte)
	defer hostBufPool.Put(bp)
	b, err := hostFiles.readKept(name, bp)
	if err == nil {
		if e := hostFiles.online.Load(); e != nil && e.path == name && e.raw == string(b) {
			return e.set
		}
		if set, err := cgroupview.ParseCPUSet(string(b)); err == nil && !set.IsEmpty() {
			hostFiles.online.Store(&onlineEntry{path: name, raw: string(b), set: set})
			return set
		}
	}
	var set cgroupview.CPUSet
	set.Add(0)
	return set
}

// readCPUInfo serves /proc/cpuinfo from a copy at most cpuinfoTTL old,
// read again at once when the online CPU list changed.
func (c *hostCache) readCPUInfo(name, onlinePath string) ([]byte, error) {
	online := c.onlineText(onlinePath)
	if e := c.cpuinfo.Load(); e != nil && e.path == name && e.online == online && time.Since(e.at) < cpuinfoTTL {
		return e.text, nil
	}
	bp := hostBufPool.Get().(*[]byte)
	defer hostBufPool.Put(bp)
	fd, err := openRO(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	kernel := onProcOrSys(fd)
	b, err := readFD(fd, name, bp)
	unix.Close(fd)
	if err != nil {
		return nil, err
	}
	text := append([]byte(nil), b...)
	if kernel && online != "" {
		c.cpuinfo.Store(&cpuinfoEntry{path: name, online: online, at: time.Now(), text: text})
	}
	return text, nil
}

// onlineText is the text of the online list, or "" when unreadable: then
// cpuinfo is not cached.
func (c *hostCache) onlineText(name string) string {
	bp := hostBufPool.Get().(*[]byte)
	defer hostBufPool.Put(bp)
	b, err := c.readKept(name, bp)
	if err != nil {
		return ""
	}
	if e := c.online.Load(); e != nil && e.path == name && e.raw == string(b) {
		return e.raw
	}
	return string(b)
}

// readKept reads a one-record file with one pread on a kept fd.
func (c *hostCache) readKept(name string, bp *[]byte) ([]byte, error) {
	c.mu.RLock()
	fd, ok := c.fds[name]
	if ok {
		n, err := preadWhole(fd, bp)
		c.mu.RUnlock()
		if err == nil {
			return (*bp)[:n], nil
		}
		c.mu.Lock()
		if cur, ok := c.fds[name]; ok && cur == fd {
			delete(c.fds, name)
			unix.Close(fd)
		}
		c.mu.Unlock()
	} else {
		c.mu.RUnlock()
	}
	fd, err := openRO(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if !onProcOrSys(fd) {
		defer unix.Close(fd)
		return readFD(fd, name, bp)
	}
	n, err := preadWhole(fd, bp)
	if err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	c.mu.Lock()
	if _, ok := c.fds[name]; ok || len(c.fds) >= 64 {
		unix.Close(fd)
	} else {
		c.fds[name] = fd
	}
	c.mu.Unlock()
	return (*bp)[:n], nil
}

// hostSingleRecord names the host files generated as one seq_file record.
func hostSingleRecord(base string) bool {
	switch base {
	case "meminfo", "stat", "uptime", "loadavg", "online", "present", "possible", "offline",
		"cpu", "io", "memory", "irq": // pressure/*
		return true
	}
	return false
}

func preadWhole(fd int, bp *[]byte) (int, error) {
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

func openRO(name string) (int, error) {
	for {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

func readToEOF(name string, bp *[]byte) ([]byte, error) {
	fd, err := openRO(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	return readFD(fd, name, bp)
}

func readFD(fd int, name string, bp *[]byte) ([]byte, error) {
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

// onProcOrSys reports whether fd is on procfs or sysfs.
func onProcOrSys(fd int) bool {
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC:
		return true
	}
	return false
}

package content

import (
	"io/fs"
	"path"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/cgroupview"
	"github.com/lxcfs-go/lxcfs-go/internal/kfile"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
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
//   - /proc/meminfo, read for every meminfo and swaps of every container,
//     is reused for meminfoTTL (see there);
//   - other files (multi-record seq_files such as swaps and diskstats, and
//     anything not on procfs or sysfs, like test fixtures) are opened and
//     read to EOF with plain system calls every time.

// cpuinfoTTL is how long /proc/cpuinfo text is reused while the online CPU
// list stays the same; within it only "cpu MHz" can drift.
const cpuinfoTTL = time.Second

// meminfoTTL is how long the host's /proc/meminfo text is reused. A
// container's meminfo takes only MemTotal (when it has no limit), SwapTotal
// and the lines it does not rewrite from it; every value of the container's
// own is read from its cgroup on each read. The kernel's global memory
// counters themselves lag by up to vm.stat_interval (1 s): per-CPU deltas
// are folded into them that often. A tenth of that is not visible, and saves
// the kernel generating the file (about 7 us) on nearly every read under
// load.
const meminfoTTL = 100 * time.Millisecond

// hostFiles keeps the few host files open (a handful of names: no need
// for a large bound).
var hostFiles = hostCache{kept: kfile.NewCache(64)}

type hostCache struct {
	kept *kfile.Cache

	online  atomic.Pointer[onlineEntry]  // by path
	cpuinfo atomic.Pointer[cpuinfoEntry] // by path
	meminfo atomic.Pointer[textEntry]    // by path
}

// textEntry is a host file's text as read at a time.
type textEntry struct {
	path string
	at   time.Time
	text []byte
}

// fresh reports whether e holds name's text read less than ttl ago.
func (e *textEntry) fresh(name string, ttl time.Duration) bool {
	return e != nil && e.path == name && time.Since(e.at) < ttl
}

type onlineEntry struct {
	path string
	raw  string
	set  cgroupview.CPUSet
}

type cpuinfoEntry struct {
	textEntry
	online string // the online list it was read under
}

// readHost returns the content of the host file name, owned by the caller
// (or, for cpuinfo and meminfo, shared and never modified). online is the
// host's online CPU list, whose changes refresh cpuinfo.
func readHost(name, online string) ([]byte, error) {
	base := path.Base(name)
	switch base {
	case "cpuinfo":
		return hostFiles.readCPUInfo(name, online)
	case "meminfo":
		return hostFiles.readMeminfo(name)
	}
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	var b []byte
	var err error
	if hostSingleRecord(base) {
		b, err = hostFiles.kept.Read(name, bp)
	} else {
		b, err = kfile.ReadToEOF(name, bp)
	}
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// hostOnlineSet is the host's online CPU list from the file name; an
// unreadable or empty list gives CPU 0 alone.
func hostOnlineSet(name string) cgroupview.CPUSet {
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	b, err := hostFiles.kept.Read(name, bp)
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
	if e := c.cpuinfo.Load(); e != nil && e.fresh(name, cpuinfoTTL) && e.online == online {
		return e.text, nil
	}
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	fd, err := kfile.OpenRO(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	kernel := kfile.OnKernelFS(fd)
	b, err := kfile.ReadFD(fd, name, bp)
	unix.Close(fd)
	if err != nil {
		return nil, err
	}
	text := append([]byte(nil), b...)
	if kernel && online != "" {
		c.cpuinfo.Store(&cpuinfoEntry{textEntry{path: name, at: time.Now(), text: text}, online})
	}
	return text, nil
}

// readMeminfo serves /proc/meminfo from a copy at most meminfoTTL old. Only
// a file the kernel generates is reused (not a fixture).
func (c *hostCache) readMeminfo(name string) ([]byte, error) {
	if e := c.meminfo.Load(); e.fresh(name, meminfoTTL) {
		return e.text, nil
	}
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	b, err := c.kept.Read(name, bp)
	if err != nil {
		return nil, err
	}
	text := append([]byte(nil), b...)
	if c.kept.Kept(name) {
		c.meminfo.Store(&textEntry{path: name, at: time.Now(), text: text})
	}
	return text, nil
}

// onlineText is the text of the online list, or "" when unreadable: then
// cpuinfo is not cached.
func (c *hostCache) onlineText(name string) string {
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	b, err := c.kept.Read(name, bp)
	if err != nil {
		return ""
	}
	if e := c.online.Load(); e != nil && e.path == name && e.raw == string(b) {
		return e.raw
	}
	return string(b)
}

// hostSingleRecord names the host files generated as one seq_file record
// (the SingleRecord rows of the vfiles table).
func hostSingleRecord(base string) bool { return vfiles.SingleRecord(base) }

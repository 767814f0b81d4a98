package hostfs

import (
	"io/fs"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/internal/kfile"
)

// Options says where the host's files are and which clock measures the
// caches' lifetimes.
type Options struct {
	// ProcFS is the procfs root; "/proc" when empty.
	ProcFS string
	// SysFS is the sysfs root; "/sys" when empty.
	SysFS string
	// Now is the clock of the cached texts and of the kept fds' sweeps;
	// the system's when nil (then ages are read from the monotonic clock
	// alone, which costs half of time.Now on the read path).
	Now func() time.Time
	// MaxKept bounds the fds kept open; 0 means a quarter of the fd limit,
	// at most 4096.
	MaxKept int
}

// FS is the host's kernel files below the roots of its Options. It is safe
// for concurrent use; one FS serves the whole daemon.
type FS struct {
	procFS, sysFS string
	// The cached files' paths, joined once.
	meminfoPath, statPath, cpuinfoPath, onlinePath string

	clock    func() time.Time // nil: the system's
	fdBudget int
	kept     *kfile.Cache

	online  atomic.Pointer[string]       // the online list's last text
	cpuinfo atomic.Pointer[cpuinfoEntry] // see CPUInfo
	meminfo atomic.Pointer[textEntry]    // see Meminfo
	stat    atomic.Pointer[textEntry]    // see Stat
}

// New returns an FS reading below the roots of o. It opens nothing: files
// are opened at their first read.
func New(o Options) *FS {
	if o.ProcFS == "" {
		o.ProcFS = "/proc"
	}
	if o.SysFS == "" {
		o.SysFS = "/sys"
	}
	budget := kfile.FDBudget()
	if o.MaxKept <= 0 {
		o.MaxKept = min(4096, budget/4)
	}
	f := &FS{
		procFS:      o.ProcFS,
		sysFS:       o.SysFS,
		meminfoPath: path.Join(o.ProcFS, "meminfo"),
		statPath:    path.Join(o.ProcFS, "stat"),
		cpuinfoPath: path.Join(o.ProcFS, "cpuinfo"),
		onlinePath:  path.Join(o.SysFS, "devices/system/cpu/online"),
		clock:       o.Now,
		fdBudget:    budget,
		kept:        kfile.NewCache(o.MaxKept),
	}
	f.kept.Now = o.Now // nil: time.Now
	return f
}

// ProcFS is the procfs root.
func (f *FS) ProcFS() string { return f.procFS }

// SysFS is the sysfs root.
func (f *FS) SysFS() string { return f.sysFS }

// Now reads the FS's clock.
func (f *FS) Now() time.Time {
	if f.clock == nil {
		return time.Now()
	}
	return f.clock()
}

// since is the time elapsed since t on the FS's clock.
func (f *FS) since(t time.Time) time.Duration {
	if f.clock == nil {
		return time.Since(t)
	}
	return f.clock().Sub(t)
}

// FDBudget is the soft limit on open files when the FS was made (Go raises
// it to the hard limit at start-up), or 1024 if unknown. Other caches of
// fds size themselves from it.
func (f *FS) FDBudget() int { return f.fdBudget }

// ReadInto reads the whole of the file name into *bp (growing it) and
// returns the content, which aliases *bp: from a kept fd when the kernel
// generates it as one record (SingleRecord), else opened and read to its
// end. Errors are *fs.PathError wrapping the errno, as os.ReadFile gives.
// Get bp from kfile.GetBuf.
func (f *FS) ReadInto(name string, bp *[]byte) ([]byte, error) {
	return f.readInto(name, bp, SingleRecord(name))
}

func (f *FS) readInto(name string, bp *[]byte, oneRecord bool) ([]byte, error) {
	if oneRecord {
		return f.kept.Read(name, bp)
	}
	return kfile.ReadToEOF(name, bp)
}

// ReadFile reads the whole of a small file into a new slice of its exact
// length, as ReadInto does.
func (f *FS) ReadFile(name string) ([]byte, error) {
	return f.readCopy(name, SingleRecord(name))
}

// ReadRecord is ReadFile for a file the caller knows the kernel generates
// as one record (the host files the vfiles table marks SingleRecord): it
// is kept open whatever its name.
func (f *FS) ReadRecord(name string) ([]byte, error) {
	return f.readCopy(name, true)
}

// ReadWhole is ReadFile for a file that is not one record: opened and read
// to its end every time, whatever its name.
func (f *FS) ReadWhole(name string) ([]byte, error) {
	return f.readCopy(name, false)
}

func (f *FS) readCopy(name string, oneRecord bool) ([]byte, error) {
	bp := kfile.GetBuf()
	b, err := f.readInto(name, bp, oneRecord)
	var out []byte
	if err == nil {
		out = make([]byte, len(b))
		copy(out, b)
	}
	kfile.PutBuf(bp)
	return out, err
}

// Kept reports whether an fd is kept open for name.
func (f *FS) Kept(name string) bool { return f.kept.Kept(name) }

// Close closes every kept fd. The FS stays usable: later reads open their
// files again.
func (f *FS) Close() { f.kept.Reset() }

// SingleRecord reports whether the kernel generates the cgroup or
// /proc/<pid> file named by its base name as one seq_file record, so that
// one pread at offset 0 returns all of it whenever it fits the buffer.
// Multi-record seq_files (tasks, cgroup.procs, mountinfo) can return less
// than the buffer before their end; they are read to EOF. The host files
// behind the virtual files are listed in the vfiles table instead (its
// SingleRecord rows), and read with ReadRecord.
func SingleRecord(name string) bool {
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
	return strings.HasPrefix(base, "cpu.") || strings.HasSuffix(base, ".pressure")
}

// CPUInfoTTL is how long /proc/cpuinfo text is reused while the online CPU
// list stays the same; within it only "cpu MHz" can drift. cpuinfo is the
// costliest file to generate: the kernel samples every CPU's frequency.
const CPUInfoTTL = time.Second

// MeminfoTTL is how long the host's /proc/meminfo text is reused. A
// container's meminfo takes only MemTotal (when it has no limit), SwapTotal
// and the lines it does not rewrite from it; every value of the container's
// own is read from its cgroup on each read. The kernel's global memory
// counters themselves lag by up to vm.stat_interval (1 s): per-CPU deltas
// are folded into them that often. A tenth of that is not visible, and saves
// the kernel generating the file (about 7 us) on nearly every read under
// load.
const MeminfoTTL = 100 * time.Millisecond

// StatTTL is how long the host's /proc/stat text is reused. A container's
// stat takes from it the lines it does not compute from its own cgroups
// (intr, ctxt, processes, softirq, and the CPU times of the CPUs it has
// no figures for); the kernel sums every CPU's and every interrupt's
// counters to generate it, the costliest step of serving a container's
// stat (about a sixth of the daemon's CPU per read, measured with pprof
// on a reader in a loop). Reused for as long as a container's own values
// are (content's snapshot), it is never staler than they are.
const StatTTL = 100 * time.Millisecond

// textEntry is a host file's text as read at a time.
type textEntry struct {
	at   time.Time
	text []byte
}

// fresh reports whether e was read less than ttl ago on f's clock.
func (f *FS) fresh(e *textEntry, ttl time.Duration) bool {
	return e != nil && f.since(e.at) < ttl
}

type cpuinfoEntry struct {
	textEntry
	online string // the online list it was read under
}

// Meminfo is the text of ProcFS/meminfo, shared and never modified: a copy
// at most MeminfoTTL old. Only a file the kernel generates is reused (not
// a fixture).
func (f *FS) Meminfo() ([]byte, error) {
	return f.reused(f.meminfoPath, &f.meminfo, MeminfoTTL)
}

// Stat is the text of ProcFS/stat, shared and never modified: a copy at
// most StatTTL old, reused as Meminfo's is.
func (f *FS) Stat() ([]byte, error) {
	return f.reused(f.statPath, &f.stat, StatTTL)
}

// reused is the text of the one-record kernel file name, from *last while
// it is younger than ttl, else read again (and kept in *last when the
// kernel generates the file).
func (f *FS) reused(name string, last *atomic.Pointer[textEntry], ttl time.Duration) ([]byte, error) {
	if e := last.Load(); f.fresh(e, ttl) {
		return e.text, nil
	}
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	b, err := f.kept.Read(name, bp)
	if err != nil {
		return nil, err
	}
	text := append([]byte(nil), b...)
	if f.kept.Kept(name) {
		last.Store(&textEntry{at: f.Now(), text: text})
	}
	return text, nil
}

// CPUInfo is the text of ProcFS/cpuinfo, shared and never modified: a copy
// at most CPUInfoTTL old, read again at once when the online CPU list
// changed. Only a file the kernel generates is reused, and only while the
// online list can be read.
func (f *FS) CPUInfo() ([]byte, error) {
	online, _ := f.CPUOnline()
	if e := f.cpuinfo.Load(); e != nil && f.fresh(&e.textEntry, CPUInfoTTL) && e.online == online {
		return e.text, nil
	}
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	fd, err := kfile.OpenRO(f.cpuinfoPath)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: f.cpuinfoPath, Err: err}
	}
	kernel := kfile.OnKernelFS(fd)
	b, err := kfile.ReadFD(fd, f.cpuinfoPath, bp)
	unix.Close(fd)
	if err != nil {
		return nil, err
	}
	text := append([]byte(nil), b...)
	if kernel && online != "" {
		f.cpuinfo.Store(&cpuinfoEntry{textEntry{at: f.Now(), text: text}, online})
	}
	return text, nil
}

// CPUOnline is the text of SysFS/devices/system/cpu/online. While the file
// reads the same, the same string is returned (no allocation), so callers
// may keep what they derive from it keyed by the text.
func (f *FS) CPUOnline() (string, error) {
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	b, err := f.kept.Read(f.onlinePath, bp)
	if err != nil {
		return "", err
	}
	if p := f.online.Load(); p != nil && *p == string(b) {
		return *p, nil
	}
	s := string(b)
	f.online.Store(&s)
	return s, nil
}

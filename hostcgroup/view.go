package hostcgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/fallback"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/internal/genmap"
)

// View reads the cgroups of the processes on one host. It is safe for
// concurrent use. The layout is read once by New; cgroup files are read
// afresh on every Snapshot, through file descriptors kept open between
// reads where the kernel regenerates the file at each read (hostfs.FS),
// and a calling thread's namespace and process are kept while a pidfd
// says it lives (pidfd.go).
type View struct {
	host   *hostfs.FS
	procFS string
	prefix string
	log    *slog.Logger
	layout *Layout

	// fallbacks reports a value that could not be computed; the caller
	// logs it at debug level when Report says so.
	fallbacks fallback.Reporter

	// memory, cpu, cpuset and cpuacct are the hierarchies chosen for those
	// controllers (nil when none has them); see New.
	memory, cpu, cpuset, cpuacct *Hierarchy

	inits   initCache
	timeNS  timeNSState
	cgroups cgroupsCache
	pinned  pinnedThreads

	taskCounts *genmap.Map[string, taskCount]
	taskIOs    *genmap.Map[taskIOKey, taskIOEntry]
	// now is the clock of the task-count cache (tests replace it).
	now func() time.Time

	// kernelMemory says the memory hierarchy is a real cgroup file system
	// (not a fixture tree), whose memory.stat hierarchical_* limits are
	// consistent with the limit files by construction.
	kernelMemory bool
}

// New reads ProcFS/self/mountinfo and detects the cgroup layout, reading
// the cgroup2 root's cgroup.controllers below MountPrefix. Beyond those it
// only looks at the file system types of ProcFS and the memory hierarchy.
// An empty ProcFS means "/proc".
func New(opts Options) (*View, error) {
	if opts.Host == nil {
		opts.Host = hostfs.New(hostfs.Options{ProcFS: opts.ProcFS})
	}
	v := &View{host: opts.Host, procFS: opts.Host.ProcFS(), prefix: opts.MountPrefix, log: opts.Logger}
	v.initCaches()
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.fallbacks = fallback.Reporter{Log: v.log, On: opts.OnFallback}
	name := v.procFS + "/self/mountinfo"
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("hostcgroup: reading the host's mounts: %w", err)
	}
	defer f.Close()
	mounts, err := hostfs.ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("hostcgroup: %s: %w", name, err)
	}
	if v.layout, err = DetectLayout(mounts, v.readUnifiedControllers); err != nil {
		return nil, fmt.Errorf("hostcgroup: %s: %w", name, err)
	}
	v.memory = v.layout.ForController("memory")
	v.cpu = v.layout.ForController("cpu")
	v.cpuset = v.layout.ForController("cpuset")
	v.cpuacct = v.layout.ForController("cpuacct")
	if v.memory != nil {
		v.kernelMemory = isCgroupFS(v.prefix + v.memory.MountPoint)
	}
	v.pinned.on = ownProcFS(v.procFS)
	v.pinned.max = min(4096, v.host.FDBudget()/8)
	v.log.Debug("cgroup layout", "kind", v.layout.Kind,
		"memory", hierarchyName(v.memory), "cpu", hierarchyName(v.cpu),
		"cpuset", hierarchyName(v.cpuset), "cpuacct", hierarchyName(v.cpuacct))
	return v, nil
}

func hierarchyName(h *Hierarchy) string {
	if h == nil {
		return "none"
	}
	return h.MountPoint
}

// Layout returns the layout detected by New. Callers must not modify it.
func (v *View) Layout() *Layout { return v.layout }

// procPath is ProcFS/<pid>/<file>.
func (v *View) procPath(pid int, file string) string {
	return v.procFS + "/" + strconv.Itoa(pid) + "/" + file
}

// initCaches makes the caches and sets the clock.
func (v *View) initCaches() {
	v.now = time.Now
	v.cgroups = newCgroupsCache()
	v.taskCounts = newTaskCounts()
	v.taskIOs = newTaskIOs()
	v.inits.threads = newThreadCache()
}

// cgroupDir is one cgroup directory of one hierarchy: base is MountPrefix
// plus the mount point, path the cgroup relative to the mount's root ("/"
// or "/a/b").
type cgroupDir struct {
	base string
	path string
	// wholeTree says this is the memory hierarchy of a real cgroup file
	// system mounted from its root, so that the
	// walk to path "/" covers every ancestor the kernel knows (and v1
	// memory.stat's hierarchical_* limits equal the walk's minimum).
	wholeTree bool
	host      *hostfs.FS
}

// file is the name of a file of the cgroup.
func (d cgroupDir) file(name string) string {
	if d.path == "/" {
		return d.base + "/" + name
	}
	return d.base + d.path + "/" + name
}

// parent returns the parent cgroup; false at the hierarchy's root.
func (d cgroupDir) parent() (cgroupDir, bool) {
	if d.path == "/" {
		return d, false
	}
	i := strings.LastIndexByte(d.path, '/')
	if i <= 0 {
		d.path = "/"
		return d, true
	}
	d.path = d.path[:i]
	return d, true
}

// exists reports whether the cgroup directory is there. Walks that may skip
// a missing file call it so that a removed cgroup never yields its
// ancestors' values.
func (d cgroupDir) exists() bool {
	st, err := os.Stat(d.file("."))
	return err == nil && st.IsDir()
}

// dir finds the directory of the process's cgroup for controller ctrl in
// hierarchy h. ok is false when h is nil, when the process has no path in
// h, or when the path is not below the mount's root (or is not a clean
// absolute path).
func (v *View) dir(h *Hierarchy, cg Cgroups, ctrl string) (cgroupDir, bool) {
	if h == nil {
		return cgroupDir{}, false
	}
	var p string
	if h.Version == 2 {
		if !cg.HasUnified {
			return cgroupDir{}, false
		}
		p = cg.Unified
	} else {
		var ok bool
		if p, ok = cg.V1[ctrl]; !ok {
			return cgroupDir{}, false
		}
	}
	rel, ok := relativeTo(p, h.Root)
	if !ok {
		if v.fallbacks.Report(fallback.OutsideHierarchy) {
			v.log.Debug("cgroup path outside the mounted part of its hierarchy",
				"controller", ctrl, "path", p, "mount_root", h.Root)
		}
		return cgroupDir{}, false
	}
	return cgroupDir{base: v.prefix + h.MountPoint, path: rel, wholeTree: h.Root == "/" && h == v.memory && v.kernelMemory, host: v.host}, true
}

// relativeTo returns p relative to root, both absolute cgroup paths. It
// refuses paths with empty, "." or ".." components: the kernel never
// prints them except as "/../x" for a cgroup outside the reader's cgroup
// namespace, which we cannot reach.
func relativeTo(p, root string) (string, bool) {
	if !cleanCgroupPath(p) || !cleanCgroupPath(root) {
		return "", false
	}
	if root == "/" {
		return p, true
	}
	if p == root {
		return "/", true
	}
	if rest, ok := strings.CutPrefix(p, root); ok && strings.HasPrefix(rest, "/") {
		return rest, true
	}
	return "", false
}

func cleanCgroupPath(p string) bool {
	if p == "/" {
		return true
	}
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for c := range strings.SplitSeq(p[1:], "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// Snapshot reads the parts of the cgroups cg that want asks for. A part
// that cannot be computed (controller missing, file unreadable or
// malformed, cgroup gone) is nil and logged at debug level; Snapshot never
// fails as a whole.
func (v *View) Snapshot(cg Cgroups, want Want) *Snapshot {
	s := &Snapshot{}
	if want&WantMemory != 0 {
		s.Memory = v.readMemory(cg)
	}
	if want&(WantCPU|WantCPUQuota) != 0 {
		s.CPU = v.readCPU(cg, want&WantCPUQuota != 0)
	}
	if want&WantUsage != 0 {
		s.Usage = v.readUsage(cg)
	}
	if want&WantSlabinfo != 0 {
		s.Slabinfo = v.readSlabinfo(cg)
	}
	if want&WantTasks != 0 {
		s.Tasks = v.readTasks(cg)
	}
	if want&WantIO != 0 {
		s.IO = v.readIO(cg)
	}
	return s
}

func (v *View) readMemory(cg Cgroups) *Memory {
	d, ok := v.dir(v.memory, cg, "memory")
	if !ok {
		return nil
	}
	var m *Memory
	var err error
	if v.memory.Version == 2 {
		m, err = v.memoryV2(d)
	} else {
		m, err = v.memoryV1(d)
	}
	if err != nil {
		if v.fallbacks.Report(fallback.Memory) {
			v.log.Debug("memory of cgroup unavailable", "path", d.path, "err", err)
		}
		return nil
	}
	return m
}

func (v *View) readCPU(cg Cgroups, withQuota bool) *CPU {
	sd, hasCPUSet := v.dir(v.cpuset, cg, "cpuset")
	qd, hasCPU := v.dir(v.cpu, cg, "cpu")
	if !hasCPUSet && !hasCPU {
		return nil
	}
	c := &CPU{}
	if hasCPUSet {
		var err error
		if v.cpuset.Version == 2 {
			c.CPUs, err = cpusetV2(sd)
		} else {
			c.CPUs, err = cpusetV1(sd)
		}
		if err != nil {
			if v.fallbacks.Report(fallback.CPUSet) {
				v.log.Debug("cpuset of cgroup unavailable", "path", sd.path, "err", err)
			}
			return nil
		}
	}
	if hasCPU && withQuota {
		var err error
		if v.cpu.Version == 2 {
			c.QuotaCPUs, err = quotaV2(qd)
		} else {
			c.QuotaCPUs, err = quotaV1(qd)
		}
		if err != nil {
			if v.fallbacks.Report(fallback.CPUQuota) {
				v.log.Debug("cpu quota of cgroup unavailable", "path", qd.path, "err", err)
			}
			return nil
		}
	}
	return c
}

// readUsage takes the v1 cpuacct hierarchy if there is one, else the
// unified hierarchy: its cpu.stat usage keys are core cgroup2 accounting
// (Linux 4.15+) and exist whether or not the cpu controller is enabled.
func (v *View) readUsage(cg Cgroups) *CPUUsage {
	var u *CPUUsage
	var err error
	var d cgroupDir
	switch {
	case v.cpuacct != nil && v.cpuacct.Version == 1:
		var ok bool
		if d, ok = v.dir(v.cpuacct, cg, "cpuacct"); !ok {
			return nil
		}
		u, err = usageV1(d)
	case v.layout.Unified != nil:
		var ok bool
		if d, ok = v.dir(v.layout.Unified, cg, ""); !ok {
			return nil
		}
		u, err = usageV2(d)
	default:
		return nil
	}
	if err != nil {
		if v.fallbacks.Report(fallback.CPUUsage) {
			v.log.Debug("cpu usage of cgroup unavailable", "path", d.path, "err", err)
		}
		return nil
	}
	return u
}

func (v *View) readSlabinfo(cg Cgroups) []byte {
	if v.memory == nil || v.memory.Version != 1 {
		return nil
	}
	d, ok := v.dir(v.memory, cg, "memory")
	if !ok {
		return nil
	}
	b, err := slabinfoV1(d)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			if v.fallbacks.Report(fallback.Slabinfo) {
				v.log.Debug("slabinfo of cgroup unavailable", "path", d.path, "err", err)
			}
		}
		return nil
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return b
}

// read reads the cgroup's file name whole, keeping the fd open between
// reads where that is safe (hostfs.FS.ReadFile).
func (d cgroupDir) read(name string) ([]byte, error) {
	return d.host.ReadFile(d.file(name))
}

// readLimit reads the cgroup's file holding one Limit.
func (d cgroupDir) readLimit(file string) (Limit, error) {
	name := d.file(file)
	b, err := d.host.ReadFile(name)
	if err != nil {
		return Limit{}, err
	}
	l, err := ParseLimit(b)
	if err != nil {
		return Limit{}, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

// readUint reads the cgroup's file holding one unsigned number.
func (d cgroupDir) readUint(file string) (uint64, error) {
	name := d.file(file)
	b, err := d.host.ReadFile(name)
	if err != nil {
		return 0, err
	}
	n, err := parseUint(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// minLimit returns the minimum of the limit in file over d and all its
// ancestors up to the hierarchy's root. A level without the file (the v2
// root has no memory.max) is skipped, as is a missing file at d itself: the
// caller reads another file of d that must exist. found is false when no
// level had the file.
func minLimit(d cgroupDir, file string) (l Limit, found bool, err error) {
	l = NoLimit
	for {
		x, err := d.readLimit(file)
		switch {
		case err == nil:
			l, found = l.Min(x), true
		case !errors.Is(err, fs.ErrNotExist):
			return Limit{}, false, err
		}
		var ok bool
		if d, ok = d.parent(); !ok {
			return l, found, nil
		}
	}
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

// Package vfiles is the one table of lxcfs-go's virtual files: one row per
// file, saying where it appears below the mount point, which host file it
// is rendered from, the node ID it keeps across daemon generations, and how
// the hooks and the webhook give it to a container.
//
// Everything that lists the files reads this table (gVisor's proc builds its
// directories from one map of name to file type in the same way):
//
//   - fs builds its static tree (proc/...) from the rows' paths and node
//     IDs, and finds the virtual files of the mirrored sys cpu directory
//     with Lookup and Children;
//   - content attaches a renderer to each row by its File key (what it needs
//     from the cgroup snapshot, how it renders, how `show --explain` says
//     where it comes from) and takes `show`'s names from String and
//     MountPath; its tests fail for a row without a renderer;
//   - the host-file reader keeps the SingleRecord host files open;
//   - the webhook gives pods Bound (and OptIn when asked), the OCI hook
//     leaves out what is opt-in (BoundByDefault), and a test holds the LXC
//     hook script, which binds what the daemon's directory lists, to the
//     table.
//
// The table holds names, paths and flags only, and imports nothing of the
// daemon: the webhook and the hooks run in other processes (a pod's
// admission, a runtime's hook) and import it without fs or content.
//
// # Adding a file
//
// One File constant, one row in rows (with a new node ID), one renderer in
// content (content/render.go); docs/architecture.md says which tests check
// each.
package vfiles

import (
	"path"
	"slices"
	"strconv"
	"strings"
)

// File is the key of one virtual file. The constants are in the order `show
// --list` prints them; rows are in the order the mount lists them. A File is
// a number only within one binary: what outlives it (the hand-over state)
// names files by String.
type File int

const (
	Meminfo File = iota
	CPUInfo
	Stat
	Uptime
	Swaps
	Slabinfo
	Loadavg
	Diskstats
	PressureCPU
	PressureIO
	PressureMemory
	// CPUOnline, CPUPresent and CPUPossible are the lists in
	// /sys/devices/system/cpu; CPUOffline is the empty list beside them.
	CPUOnline
	CPUPresent
	CPUPossible
	CPUOffline
	// CPUNOnline is cpuN/online of a visible CPU: always "1".
	CPUNOnline
	// Count is the number of files.
	Count
)

// CPUDir is the sys cpu directory below the mount point, which the daemon
// serves whole: the host's, with the rows below it in place of the host's
// files.
const CPUDir = "sys/devices/system/cpu"

// cpuN in a row's path stands for every cpu<number> directory.
const cpuN = "cpuN"

// Row is one virtual file.
type Row struct {
	File File
	// Path is where the file appears below the mount point. A "cpuN"
	// component stands for every cpu<number>.
	Path string
	// Host is the host file it is rendered from ("/proc/meminfo"), below
	// the daemon's procfs or sysfs root; "" for a file with no host
	// template.
	Host string
	// SingleRecord: the kernel generates Host as one seq_file record, so it
	// can be kept open and read again with one pread at offset 0.
	SingleRecord bool
	// Node is the file's fixed FUSE node ID. A container's bind mount pins
	// it for the container's life and a successor daemon imports the
	// predecessor's table: never change one. 0 for the files of CPUDir,
	// whose IDs derive from their path.
	Node uint64
	// Bind is what the hooks and the webhook bind into a container to give
	// it the file: the file itself, or a directory the daemon serves whole
	// (CPUDir).
	Bind string
	// OptIn: not bound unless asked for. runc refuses bind mounts under
	// /proc/pressure (docs/oci.md); the LXC hook binds the directory,
	// writable for PSI triggers.
	OptIn bool
}

// rows are the virtual files in the order the mount lists them: the proc
// files in lxcfs's readdir order.
var rows = []Row{
	{File: CPUInfo, Path: "proc/cpuinfo", Host: "/proc/cpuinfo", Node: 3, Bind: "proc/cpuinfo"},
	{File: Meminfo, Path: "proc/meminfo", Host: "/proc/meminfo", SingleRecord: true, Node: 6, Bind: "proc/meminfo"},
	{File: Stat, Path: "proc/stat", Host: "/proc/stat", SingleRecord: true, Node: 8, Bind: "proc/stat"},
	{File: Uptime, Path: "proc/uptime", Host: "/proc/uptime", SingleRecord: true, Node: 10, Bind: "proc/uptime"},
	{File: Diskstats, Path: "proc/diskstats", Host: "/proc/diskstats", Node: 4, Bind: "proc/diskstats"},
	{File: Swaps, Path: "proc/swaps", Host: "/proc/swaps", Node: 9, Bind: "proc/swaps"},
	{File: Loadavg, Path: "proc/loadavg", Host: "/proc/loadavg", SingleRecord: true, Node: 5, Bind: "proc/loadavg"},
	{File: Slabinfo, Path: "proc/slabinfo", Host: "/proc/slabinfo", Node: 7, Bind: "proc/slabinfo"},
	{File: PressureCPU, Path: "proc/pressure/cpu", Host: "/proc/pressure/cpu", SingleRecord: true, Node: 12, Bind: "proc/pressure/cpu", OptIn: true},
	{File: PressureIO, Path: "proc/pressure/io", Host: "/proc/pressure/io", SingleRecord: true, Node: 13, Bind: "proc/pressure/io", OptIn: true},
	{File: PressureMemory, Path: "proc/pressure/memory", Host: "/proc/pressure/memory", SingleRecord: true, Node: 14, Bind: "proc/pressure/memory", OptIn: true},
	{File: CPUOnline, Path: CPUDir + "/online", Host: "/sys/devices/system/cpu/online", SingleRecord: true, Bind: CPUDir},
	{File: CPUPossible, Path: CPUDir + "/possible", Host: "/sys/devices/system/cpu/possible", SingleRecord: true, Bind: CPUDir},
	{File: CPUPresent, Path: CPUDir + "/present", Host: "/sys/devices/system/cpu/present", SingleRecord: true, Bind: CPUDir},
	{File: CPUOffline, Path: CPUDir + "/offline", Host: "/sys/devices/system/cpu/offline", SingleRecord: true, Bind: CPUDir},
	{File: CPUNOnline, Path: CPUDir + "/" + cpuN + "/online", Bind: CPUDir},
}

// byFile is rows by key.
var byFile = func() (t [Count]Row) {
	for _, r := range rows {
		t[r.File] = r
	}
	return t
}()

// Rows lists every row in the order the mount lists them.
func Rows() []Row { return slices.Clone(rows) }

// Files lists every file in key order, the order of `show --list`.
func Files() []File {
	out := make([]File, 0, Count)
	for f := File(0); f < Count; f++ {
		out = append(out, f)
	}
	return out
}

// Row is f's row; the zero Row for a number that names no file.
func (f File) Row() Row {
	if f < 0 || f >= Count {
		return Row{}
	}
	return byFile[f]
}

// String is the name `show` knows f by: its path below proc/ or below
// CPUDir ("meminfo", "pressure/cpu", "online", "cpuN/online"). The
// hand-over state names files by it too.
func (f File) String() string {
	if f < 0 || f >= Count {
		return "File(" + strconv.Itoa(int(f)) + ")"
	}
	p := byFile[f].Path
	if rest, ok := strings.CutPrefix(p, CPUDir+"/"); ok {
		return rest
	}
	return strings.TrimPrefix(p, "proc/")
}

// MountPath is where f appears below the mount point ("proc/meminfo"); ""
// for a number that names no file.
func (f File) MountPath() string { return f.Row().Path }

// Pressure reports whether f is a PSI file (proc/pressure/*), which takes
// trigger writes and poll(2) under --enable-psi-poll.
func (f File) Pressure() bool { return path.Dir(f.MountPath()) == "proc/pressure" }

// Lookup finds the file at p below the mount point. cpu<number> matches a
// row's cpuN.
func Lookup(p string) (File, bool) {
	for _, r := range rows {
		if matches(r.Path, p) {
			return r.File, true
		}
	}
	return 0, false
}

// Children are the names of the files directly in dir below the mount
// point, in the mount's order; cpu<number> in dir matches a row's cpuN.
func Children(dir string) []string {
	var out []string
	for _, r := range rows {
		d, name := path.Split(r.Path)
		if matches(strings.TrimSuffix(d, "/"), dir) {
			out = append(out, name)
		}
	}
	return out
}

// matches reports whether p is the row path pattern, component by
// component, cpuN matching cpu followed by digits.
func matches(pattern, p string) bool {
	if !strings.Contains(pattern, cpuN) {
		return pattern == p
	}
	pp, ps := strings.Split(pattern, "/"), strings.Split(p, "/")
	if len(pp) != len(ps) {
		return false
	}
	for i := range pp {
		if pp[i] != ps[i] && (pp[i] != cpuN || !isCPUName(ps[i])) {
			return false
		}
	}
	return true
}

// isCPUName reports whether name is cpu followed by one or more digits.
func isCPUName(name string) bool {
	n, ok := strings.CutPrefix(name, "cpu")
	if !ok || n == "" {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Bound lists what the webhook gives a pod by default: the Bind paths of
// the rows that are not opt-in, each once, sorted.
func Bound() []string {
	var out []string
	for _, r := range rows {
		if !r.OptIn {
			out = append(out, r.Bind)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// OptIn lists the Bind paths of the opt-in rows, in the mount's order.
func OptIn() []string {
	var out []string
	for _, r := range rows {
		if r.OptIn {
			out = append(out, r.Bind)
		}
	}
	return out
}

// BoundByDefault reports whether the hooks bind p (a path below the mount
// point, a file or a directory) into a container by default: unless every
// row at or below p is opt-in. A path of no row (a file of another daemon,
// such as lxcfs) is bound.
func BoundByDefault(p string) bool {
	found := false
	for _, r := range rows {
		if r.Path == p || strings.HasPrefix(r.Path, p+"/") {
			if !r.OptIn {
				return true
			}
			found = true
		}
	}
	return !found
}

// SingleRecord reports whether a host file whose name ends in base (the
// host directory's name is left out, as with "cpu" of pressure/cpu) is
// generated as one seq_file record.
func SingleRecord(base string) bool { return singleRecord[base] }

// singleRecord are the base names of the SingleRecord host files: the host
// reader asks on every read.
var singleRecord = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range rows {
		if r.SingleRecord {
			m[path.Base(r.Host)] = true
		}
	}
	return m
}()

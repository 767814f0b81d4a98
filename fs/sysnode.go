package fs

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// The sys node tree mirrors the host's /sys/devices/system/node read-only,
// so that numactl --hardware, libnuma and the JVM see the container:
//   - only the nodes that hold one of the caller's CPUs (every node when
//     none does) are listed, as nodeN directories and in online, possible,
//     has_cpu, has_memory and the other node lists (each the host's list
//     restricted to them);
//   - nodeN/cpulist and cpumap are the caller's CPUs on the node, by the
//     numbers it sees them under, and nodeN's cpuM links only those;
//   - nodeN/meminfo is the container's memory (proc.NodeMeminfo);
//   - everything else (distance, vmstat, numastat, hugepages, memoryN
//     links) is the host's, and nothing is writable.
// Its nodes are keyed "sysnode:" plus the path below the node directory,
// apart from the cpu tree's "sys:" keys, which running containers hold.

const nodeKeyPrefix = "sysnode:"

var nodeDirName = regexp.MustCompile(`^node[0-9]+$`)

// nodeLists are the node directory's own files that list nodes.
var nodeLists = []string{"online", "possible", "has_cpu", "has_memory", "has_normal_memory", "has_high_memory", "has_generic_initiator"}

// nodeFiles are the files of a nodeN directory that are virtual.
var nodeFiles = []string{"cpulist", "cpumap", "meminfo"}

func isNodeTree(n *node) bool {
	return n.id == idSysNode || strings.HasPrefix(n.key, nodeKeyPrefix)
}

// sysRoot is the host directory a sys node mirrors.
func (fs *FS) sysRoot(n *node) string {
	if isNodeTree(n) {
		return fs.sysNode
	}
	if isBlockTree(n) {
		return fs.sysBlock
	}
	return fs.sysCPU
}

func nodeNumber(name string) (int, bool) {
	if !nodeDirName.MatchString(name) {
		return 0, false
	}
	n, err := strconv.Atoi(name[4:])
	return n, err == nil
}

// nodeView is what a caller sees of the NUMA nodes.
type nodeView struct {
	cpu     proc.CPUView
	visible []int                     // node numbers, ascending
	cpus    map[int]hostcgroup.CPUSet // each host node's cpulist
}

func (v nodeView) shows(node int) bool { return slices.Contains(v.visible, node) }

// viewCPUs are the caller's CPUs on node, by its numbers.
func (v nodeView) viewCPUs(node int) []int { return proc.NodeViewCPUs(v.cpus[node], v.cpu) }

func (fs *FS) nodeView(pid int) (nodeView, error) {
	cv, err := fs.src.CPUView(pid)
	if err != nil {
		return nodeView{}, err
	}
	v := nodeView{cpu: cv, cpus: map[int]hostcgroup.CPUSet{}}
	des, err := os.ReadDir(fs.sysNode)
	if err != nil {
		return nodeView{}, err
	}
	var all []int
	for _, de := range des {
		n, ok := nodeNumber(de.Name())
		if !ok {
			continue
		}
		all = append(all, n)
		b, err := os.ReadFile(filepath.Join(fs.sysNode, de.Name(), "cpulist"))
		if err != nil {
			continue
		}
		set, err := hostcgroup.ParseCPUSet(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		v.cpus[n] = set
		for _, c := range cv.Host {
			if set.Contains(c) {
				v.visible = append(v.visible, n)
				break
			}
		}
	}
	if len(v.visible) == 0 {
		v.visible = all
	}
	slices.Sort(v.visible)
	return v, nil
}

// nodeClassify says what rel below the node directory is.
func (fs *FS) nodeClassify(rel string) (nodeKind, fuse.Status) {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(fs.sysNode, rel), &st); err != nil {
		return 0, errnoOf(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return kindSysDir, fuse.OK
	case unix.S_IFLNK:
		return kindSysLink, fuse.OK
	case unix.S_IFREG:
		dir, name := path.Split(rel)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" && slices.Contains(nodeLists, name) {
			return kindNodeFile, fuse.OK
		}
		if _, ok := nodeNumber(dir); ok && slices.Contains(nodeFiles, name) {
			return kindNodeFile, fuse.OK
		}
		return kindSysFile, fuse.OK
	}
	return 0, fuse.ENOENT
}

// nodeHidden reports whether rel (a name in the node directory or in a
// nodeN directory) is hidden from the caller: a node it does not see, or a
// cpuM link of a CPU it does not see.
func nodeHidden(v nodeView, rel string) bool {
	parts := strings.Split(rel, "/")
	n, isNode := nodeNumber(parts[0])
	if !isNode {
		return false
	}
	if !v.shows(n) {
		return true
	}
	if len(parts) == 2 {
		if c, isCPU := cpuNumber(parts[1]); isCPU {
			return !slices.Contains(v.viewCPUs(n), c)
		}
	}
	return false
}

func (fs *FS) nodeLookup(parent *node, name string, pid int) (*node, time.Duration, fuse.Status) {
	rel := path.Join(parent.rel, name)
	ttl := staticTTL
	if depth := strings.Count(rel, "/"); depth <= 1 {
		first, _, _ := strings.Cut(rel, "/")
		if _, isNode := nodeNumber(first); isNode {
			v, err := fs.nodeView(pid)
			if err != nil {
				return nil, 0, errnoOf(err)
			}
			if nodeHidden(v, rel) {
				return nil, 0, fuse.ENOENT
			}
			// Which nodes and links exist differs by caller.
			ttl = 0
		}
	}
	kind, st := fs.nodeClassify(rel)
	if !st.Ok() {
		return nil, 0, st
	}
	n := fs.tree.dynNode(&node{parent: parent.id, name: name, kind: kind, key: nodeKeyPrefix + rel, rel: rel})
	return n, ttl, fuse.OK
}

func (fs *FS) nodeList(dir *node, pid int) ([]fuse.DirEntry, fuse.Status) {
	entries := []fuse.DirEntry{
		{Name: ".", Ino: dir.id, Mode: syscall.S_IFDIR},
		{Name: "..", Ino: dir.parent, Mode: syscall.S_IFDIR},
	}
	des, err := os.ReadDir(filepath.Join(fs.sysNode, dir.rel))
	if err != nil {
		return nil, errnoOf(err)
	}
	var v nodeView
	filter := !strings.Contains(dir.rel, "/")
	if filter {
		if v, err = fs.nodeView(pid); err != nil {
			return nil, errnoOf(err)
		}
	}
	for _, de := range des {
		rel := path.Join(dir.rel, de.Name())
		if filter && nodeHidden(v, rel) {
			continue
		}
		kind, st := fs.nodeClassify(rel)
		if !st.Ok() {
			continue
		}
		mode := uint32(syscall.S_IFREG)
		switch kind {
		case kindSysDir:
			mode = syscall.S_IFDIR
		case kindSysLink:
			mode = syscall.S_IFLNK
		}
		entries = append(entries, fuse.DirEntry{Name: de.Name(), Ino: fs.tree.dynID(nodeKeyPrefix + rel), Mode: mode})
	}
	return entries, fuse.OK
}

// nodeRender renders a virtual file of the node tree for the caller.
func (fs *FS) nodeRender(dst []byte, n *node, pid int) ([]byte, error) {
	v, err := fs.nodeView(pid)
	if err != nil {
		return dst, err
	}
	host, err := os.ReadFile(filepath.Join(fs.sysNode, n.rel))
	if err != nil {
		return dst, err
	}
	dir, name := path.Split(n.rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return proc.NodeList(dst, host, v.visible), nil
	}
	node, ok := nodeNumber(dir)
	if !ok || !v.shows(node) {
		return dst, syscall.ENOENT
	}
	switch name {
	case "cpulist":
		return proc.NodeCPUList(dst, v.viewCPUs(node)), nil
	case "cpumap":
		return proc.NodeCPUMap(dst, host, v.viewCPUs(node)), nil
	case "meminfo":
		mem, err := fs.src.Render(nil, vfiles.Meminfo, pid)
		if err != nil {
			return dst, err
		}
		return proc.NodeMeminfo(dst, host, mem, fs.nodeShare(v, node)), nil
	}
	return dst, syscall.EINVAL
}

// nodeShare is node's part of the visible nodes' host MemTotal; 1 for a
// single visible node.
func (fs *FS) nodeShare(v nodeView, node int) float64 {
	if len(v.visible) <= 1 {
		return 1
	}
	var mine, all float64
	for _, n := range v.visible {
		b, err := os.ReadFile(filepath.Join(fs.sysNode, "node"+strconv.Itoa(n), "meminfo"))
		if err != nil {
			return 1 / float64(len(v.visible))
		}
		t := nodeMemTotal(b)
		all += t
		if n == node {
			mine = t
		}
	}
	if all == 0 {
		return 1 / float64(len(v.visible))
	}
	return mine / all
}

// nodeMemTotal is the MemTotal of a nodeN/meminfo text, 0 if absent.
func nodeMemTotal(b []byte) float64 {
	for l := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[2] == "MemTotal:" {
			v, _ := strconv.ParseFloat(f[3], 64)
			return v
		}
	}
	return 0
}

package fs

import (
	"hash/fnv"
	"sync"

	"github.com/lxcfs-go/lxcfs-go/content"
)

// Node IDs are part of the kernel's state: a container's bind mount of
// proc/meminfo pins the node ID it got at bind time, for the container's
// whole life, and never looks the name up again. A successor daemon must
// therefore give every path the same ID and generation as its predecessor.
// Static nodes have fixed IDs; the mirrored sys cpu tree derives its IDs
// from the path, so any generation can compute them.

type nodeKind uint8

const (
	kindDir     nodeKind = iota // a static directory
	kindFile                    // a virtual file rendered by content
	kindSysDir                  // a directory mirrored from sysfs
	kindSysFile                 // a host sysfs file served read-only
	kindSysLink                 // a host sysfs symlink
)

// generation is the same for every node and every daemon generation.
const generation = 1

type node struct {
	id     uint64
	parent uint64
	name   string
	kind   nodeKind
	file   content.File // kindFile
	// rel is the path below /sys/devices/system/cpu for sys nodes ("" for
	// the cpu directory itself).
	rel      string
	children []uint64 // kindDir
}

// Fixed node IDs of the static tree. Never renumber them: running
// containers hold them across upgrades.
const (
	idRoot uint64 = 1 + iota
	idProc
	idCPUInfo
	idDiskstats
	idLoadavg
	idMeminfo
	idSlabinfo
	idStat
	idSwaps
	idUptime
	idPressure
	idPressureCPU
	idPressureIO
	idPressureMemory
	idSys
	idSysDevices
	idSysSystem
	idSysCPU
)

// sysIDBase marks IDs derived from sys paths; static IDs stay far below it.
const sysIDBase = uint64(1) << 62

type tree struct {
	static map[uint64]*node

	mu  sync.RWMutex
	sys map[uint64]*node // mirrored sys nodes by ID
}

func newTree() *tree {
	t := &tree{static: map[uint64]*node{}, sys: map[uint64]*node{}}
	add := func(id, parent uint64, name string, kind nodeKind, f content.File) {
		n := &node{id: id, parent: parent, name: name, kind: kind, file: f}
		t.static[id] = n
		if p := t.static[parent]; p != nil && id != parent {
			p.children = append(p.children, id)
		}
	}
	add(idRoot, idRoot, "", kindDir, 0)
	add(idProc, idRoot, "proc", kindDir, 0)
	// lxcfs's readdir order.
	add(idCPUInfo, idProc, "cpuinfo", kindFile, content.CPUInfo)
	add(idMeminfo, idProc, "meminfo", kindFile, content.Meminfo)
	add(idStat, idProc, "stat", kindFile, content.Stat)
	add(idUptime, idProc, "uptime", kindFile, content.Uptime)
	add(idDiskstats, idProc, "diskstats", kindFile, content.Diskstats)
	add(idSwaps, idProc, "swaps", kindFile, content.Swaps)
	add(idLoadavg, idProc, "loadavg", kindFile, content.Loadavg)
	add(idSlabinfo, idProc, "slabinfo", kindFile, content.Slabinfo)
	add(idPressure, idProc, "pressure", kindDir, 0)
	add(idPressureCPU, idPressure, "cpu", kindFile, content.PressureCPU)
	add(idPressureIO, idPressure, "io", kindFile, content.PressureIO)
	add(idPressureMemory, idPressure, "memory", kindFile, content.PressureMemory)
	add(idSys, idRoot, "sys", kindDir, 0)
	add(idSysDevices, idSys, "devices", kindDir, 0)
	add(idSysSystem, idSysDevices, "system", kindDir, 0)
	t.static[idSysCPU] = &node{id: idSysCPU, parent: idSysSystem, name: "cpu", kind: kindSysDir}
	t.static[idSysSystem].children = append(t.static[idSysSystem].children, idSysCPU)
	return t
}

func (t *tree) get(id uint64) *node {
	if n := t.static[id]; n != nil {
		return n
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.sys[id]
}

// sysNode returns the node for a path below the sys cpu directory, adding it
// to the table. Its ID is a hash of the path; a collision with a different
// path (odds about 2^-60 per pair) moves to the next free ID.
func (t *tree) sysNode(parent uint64, rel string, kind nodeKind, f content.File) *node {
	h := fnv.New64a()
	h.Write([]byte(rel))
	id := sysIDBase | h.Sum64()>>2
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		n, ok := t.sys[id]
		if !ok {
			n = &node{id: id, parent: parent, name: baseName(rel), kind: kind, file: f, rel: rel}
			t.sys[id] = n
			return n
		}
		if n.rel == rel {
			n.kind, n.file = kind, f
			return n
		}
		id = sysIDBase | (id+1)&(sysIDBase-1)
	}
}

func baseName(rel string) string {
	for i := len(rel) - 1; i >= 0; i-- {
		if rel[i] == '/' {
			return rel[i+1:]
		}
	}
	return rel
}

func (t *tree) child(parent *node, name string) *node {
	for _, id := range parent.children {
		if c := t.static[id]; c.name == name {
			return c
		}
	}
	return nil
}

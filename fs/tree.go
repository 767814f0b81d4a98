package fs

import (
	"hash/fnv"
	"path"
	"strings"
	"sync"

	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// Node IDs are part of the kernel's state: a container's bind mount of
// proc/meminfo pins the node ID it got at bind time, for the container's
// whole life, and never looks the name up again. A successor daemon must
// therefore give every path the same ID and generation as its predecessor.
// Static nodes have fixed IDs; the mirrored sys cpu tree derives its IDs
// from the path, so any generation can compute them.
//
// Static nodes live forever. Dynamic nodes (the sys cpu mirror, the
// cgroup/ tree) are in the table only while the kernel holds their IDs: every
// entry reply that hands the kernel a dynamic node's ID counts one lookup
// (dynNode), FORGET subtracts what the kernel forgot (tree.forget), and the
// node leaves the table at 0. Listings (READDIR; READDIRPLUS is off) hand out
// inode numbers, which the kernel does not count, so they only compute IDs
// (dynID) and add no node. A node whose count is not known (imported from an
// older binary or from a crash snapshot, see state.go) is pinned: it is
// never removed.

type nodeKind uint8

const (
	kindDir        nodeKind = iota // a static directory
	kindFile                       // a virtual file rendered by content
	kindSysDir                     // a directory mirrored from sysfs
	kindSysFile                    // a host sysfs file served read-only
	kindSysLink                    // a host sysfs symlink
	kindCgroupTop                  // the cgroup/ directory (cgroup.go)
	kindCgroupDir                  // a hierarchy or cgroup directory
	kindCgroupFile                 // a cgroup control file
	kindNodeFile                   // a virtual file of the sys node tree (sysnode.go)
	kindBlockStat                  // a block device's stat file (sysblock.go)
)

// generation is the same for every node and every daemon generation.
const generation = 1

type node struct {
	id     uint64
	parent uint64
	name   string
	kind   nodeKind
	file   vfiles.File // kindFile
	// key names a dynamic node uniquely and determines its ID: "sys:" plus
	// rel for the mirrored sys tree. Other dynamic trees use their own
	// prefix.
	key string
	// rel is the path below /sys/devices/system/cpu for sys nodes ("" for
	// the cpu directory itself), below /sys/devices/system/node for the
	// node tree's (key "sysnode:..."), below /sys/block for the block
	// tree's (key "sysblock:...").
	rel      string
	children []uint64 // kindDir

	// lookups is the kernel's lookup count of a dynamic node: the entry
	// replies that handed it the node's ID, less what FORGET took back. A
	// pinned node never leaves the table, whatever its count. Unlike the
	// fields above, which never change once the node is in the table (and
	// are read without a lock), these two are read and written only under
	// tree.mu.
	lookups uint64
	pinned  bool
}

// Fixed node IDs of the static tree's directories; its files have theirs in
// the vfiles table (3 to 10, 12 to 14). Never renumber them: running
// containers hold them across upgrades.
const (
	idRoot       uint64 = 1
	idProc       uint64 = 2
	idPressure   uint64 = 11
	idSys        uint64 = 15
	idSysDevices uint64 = 16
	idSysSystem  uint64 = 17
	idSysCPU     uint64 = 18
	idCgroup     uint64 = 19 // cgroup/, present unless --disable-cgroup (cgroup.go)
	idSysNode    uint64 = 20
	idSysBlock   uint64 = 21 // sys/block, the block devices' stat files (sysblock.go)
)

// staticDirs are the static tree's directories by path below the mount
// point, parents first. A directory lists the table's files in it (in the
// table's order: lxcfs's readdir order) before its subdirectories (in this
// order). The sys directories mirror the host's (sys.go, sysnode.go,
// sysblock.go).
var staticDirs = []struct {
	id   uint64
	path string
	kind nodeKind
}{
	{idRoot, "", kindDir},
	{idProc, "proc", kindDir},
	{idPressure, "proc/pressure", kindDir},
	{idSys, "sys", kindDir},
	{idSysDevices, "sys/devices", kindDir},
	{idSysSystem, "sys/devices/system", kindDir},
	{idSysCPU, vfiles.CPUDir, kindSysDir},
	{idSysNode, "sys/devices/system/node", kindSysDir},
	{idSysBlock, "sys/block", kindSysDir},
}

// dynIDBase marks IDs derived from keys of dynamic nodes; static IDs stay
// far below it.
const dynIDBase = uint64(1) << 62

type tree struct {
	static map[uint64]*node

	mu  sync.RWMutex
	dyn map[uint64]*node // dynamic nodes (sys mirror, ...) by ID
	// changed gets a value (without blocking) whenever a dynamic node is
	// added, replaced or removed, so that whoever keeps a copy of the table for a
	// crash wakes only when there is something to store.
	changed chan struct{}
}

func newTree() *tree {
	t := &tree{static: map[uint64]*node{}, dyn: map[uint64]*node{}, changed: make(chan struct{}, 1)}
	dirs := map[string]*node{}
	parentOf := func(p string) *node {
		dir, _ := path.Split(p)
		parent := dirs[strings.TrimSuffix(dir, "/")]
		if parent == nil {
			panic("fs: no static directory for " + p)
		}
		return parent
	}
	for _, d := range staticDirs {
		n := &node{id: d.id, parent: idRoot, name: path.Base(d.path), kind: d.kind}
		if d.path == "" {
			n.name = ""
		} else {
			n.parent = parentOf(d.path).id
		}
		t.static[n.id] = n
		dirs[d.path] = n
	}
	for _, r := range vfiles.Rows() {
		if r.Node == 0 {
			continue // a file of the sys cpu mirror (sys.go)
		}
		p := parentOf(r.Path)
		t.static[r.Node] = &node{id: r.Node, parent: p.id, name: path.Base(r.Path), kind: kindFile, file: r.File}
		p.children = append(p.children, r.Node)
	}
	for _, d := range staticDirs[1:] {
		p := parentOf(d.path)
		p.children = append(p.children, d.id)
	}
	return t
}

func (t *tree) get(id uint64) *node {
	if n := t.static[id]; n != nil {
		return n
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.dyn[id]
}

// sysNode returns the node for a path below the sys cpu directory.
// It counts a lookup (see dynNode).
func (t *tree) sysNode(parent uint64, rel string, kind nodeKind, f vfiles.File) *node {
	return t.dynNode(&node{parent: parent, name: baseName(rel), kind: kind, file: f, key: sysKey(rel), rel: rel})
}

func sysKey(rel string) string { return "sys:" + rel }

// keyID is the ID a dynamic node's key hashes to.
func keyID(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return dynIDBase | h.Sum64()>>2
}

// nextID is the ID tried after id collided with a different key.
func nextID(id uint64) uint64 { return dynIDBase | (id+1)&(dynIDBase-1) }

// dynNode returns the node with n's key, adding n to the table if there is
// none (filling in its ID) or replacing it if its kind or file changed, and
// counts one kernel lookup of it: callers hand its ID to the kernel in an
// entry reply (and call forget(id, 1) if they end up not sending it). The
// count is raised in the same critical section that finds the node, so a
// concurrent FORGET cannot remove it in between.
//
// Nodes are never modified once in the table (but for lookups and pinned,
// under mu): a replacement is a new node with the same ID, which takes over
// the old one's count. The ID is a hash of the key, so every daemon
// generation computes the same one; a collision with a different key (odds
// about 2^-60 per pair) moves to the next free ID.
func (t *tree) dynNode(n *node) *node {
	id := keyID(n.key)
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		old, ok := t.dyn[id]
		if !ok {
			n.id = id
			n.lookups, n.pinned = 1, false
			t.dyn[id] = n
			t.notify()
			return n
		}
		if old.key == n.key {
			if old.kind == n.kind && old.file == n.file {
				old.lookups++
				return old
			}
			// The host changed what is at that path: a new node with the
			// same ID, since readers may hold the old one unlocked. The
			// kernel's lookups of the ID carry over.
			n.id = id
			n.lookups, n.pinned = old.lookups+1, old.pinned
			t.dyn[id] = n
			t.notify()
			return n
		}
		id = nextID(id)
	}
}

// dynID is the ID of the dynamic node with key: its ID if it is in the
// table, else the one dynNode would give it now (the key's hash unless that
// collides). It adds nothing: for the inode numbers of a listing, which the
// kernel does not count as lookups, so a node added for them would never be
// forgotten. A later lookup of the name gets the same ID, unless a colliding
// key is added in between.
func (t *tree) dynID(key string) uint64 {
	id := keyID(key)
	t.mu.RLock()
	defer t.mu.RUnlock()
	for {
		if old, ok := t.dyn[id]; !ok || old.key == key {
			return id
		}
		id = nextID(id)
	}
}

// forget takes n lookups off the dynamic node id (FORGET) and removes it
// from the table when none are left. Static, pinned and unknown nodes are
// left alone. It reports false if the kernel forgot more lookups than were
// counted (say a crash snapshot lacked the node and it was added again
// since): the count is wrong, so the node is kept for good (pinned).
// Removing only deletes the map entry; handlers holding the node go on
// using it.
func (t *tree) forget(id, n uint64) bool {
	if id < dynIDBase {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	nd, ok := t.dyn[id]
	if !ok || nd.pinned {
		return true
	}
	if n > nd.lookups {
		nd.pinned = true
		return false
	}
	nd.lookups -= n
	if nd.lookups == 0 {
		delete(t.dyn, id)
		t.notify()
	}
	return true
}

func (t *tree) notify() {
	select {
	case t.changed <- struct{}{}:
	default:
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

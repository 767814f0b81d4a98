package fs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// StateVersion is the version of the State format. A successor refuses a
// state whose version is newer than the one it knows; older versions it
// reads as they were (fields it does not find stay zero). Bump it only for
// changes an older reader would misread; new fields do not
// need it (the lookup counts, LookupsExact and Pinned did not: an older
// reader ignores them and keeps every node, as it always did).
const StateVersion = 1

// State is what one daemon generation hands the next: the dynamic node table
// (the kernel holds those node IDs), the open handles, and the handle epoch
// in use.
type State struct {
	Version     int    `json:"version"`
	HandleEpoch uint16 `json:"handle_epoch"`
	// LookupsExact says the nodes' lookup counts can be trusted: the state
	// was exported for a hand-over, after the server drained
	// (ExportState(true)). A crash snapshot, taken while serving, may be
	// stale; its nodes are imported pinned.
	LookupsExact bool          `json:"lookups_exact,omitempty"`
	Nodes        []NodeState   `json:"nodes,omitempty"`
	Handles      []HandleState `json:"handles,omitempty"`
}

// NodeState is one dynamic node. Kind and File are by name, so that their
// numbering may change between versions.
type NodeState struct {
	ID     uint64 `json:"id"`
	Parent uint64 `json:"parent"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	File   string `json:"file,omitempty"`
	Key    string `json:"key"`
	Rel    string `json:"rel,omitempty"`
	// Lookups is the kernel's lookup count of the node (tree.go). A node
	// without one (from an older binary), pinned, or in a state without
	// LookupsExact is imported pinned: kept for good.
	Lookups *uint64 `json:"lookups,omitempty"`
	Pinned  bool    `json:"pinned,omitempty"`
}

// HandleState is one open file or directory handle.
type HandleState struct {
	FH   uint64 `json:"fh"`
	Node uint64 `json:"node"`
	PID  int    `json:"pid,omitempty"`
	// Buf is the snapshot a file handle serves reads at offset > 0 from.
	Valid bool            `json:"valid,omitempty"`
	Buf   []byte          `json:"buf,omitempty"`
	Dir   []fuse.DirEntry `json:"dir,omitempty"`
}

var kindNames = map[nodeKind]string{
	kindDir:     "dir",
	kindFile:    "file",
	kindSysDir:  "sysdir",
	kindSysFile: "sysfile",
	kindSysLink: "syslink",
	// The node tree's nodes say so in their key ("sysnode:...").
	kindNodeFile: "nodefile",
	// The block tree's stat files (key "sysblock:...").
	kindBlockStat: "blockstat",
	// The cgroup/ tree's nodes carry hierarchy and path in key and rel.
	kindCgroupDir:  "cgdir",
	kindCgroupFile: "cgfile",
}

// kindName names k; kinds without a name here travel by number ("kind7").
func kindName(k nodeKind) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "kind" + strconv.Itoa(int(k))
}

func kindByName(s string) (nodeKind, bool) {
	for k, n := range kindNames {
		if n == s {
			return k, true
		}
	}
	if v, ok := strings.CutPrefix(s, "kind"); ok {
		if n, err := strconv.ParseUint(v, 10, 8); err == nil {
			return nodeKind(n), true
		}
	}
	return 0, false
}

// handedOverKind reports whether a handle on a node of kind k is all in
// the handle struct's plain fields (a snapshot or a listing), so that a
// successor can serve it. Others (a cgroup file's open host file) are left
// out; the successor serves them as it serves any handle it does not know.
func handedOverKind(k nodeKind) bool {
	switch k {
	case kindDir, kindFile, kindSysDir, kindSysFile, kindNodeFile, kindBlockStat:
		return true
	}
	return false
}

// fileName and fileByName keep vfiles.File out of the format as a number.
func fileName(f vfiles.File) string { return f.String() }

func fileByName(s string) (vfiles.File, bool) {
	for _, f := range content.Files() {
		if f.String() == s {
			return f, true
		}
	}
	return 0, false
}

// HandleEpoch is the epoch of the handles this FS gives out.
func (fs *FS) HandleEpoch() uint16 { return uint16(fs.fhEpoch >> 48) }

// DynamicNodes is the number of dynamic nodes; a cheap way to notice that
// the state changed.
func (fs *FS) DynamicNodes() int {
	fs.tree.mu.RLock()
	defer fs.tree.mu.RUnlock()
	return len(fs.tree.dyn)
}

// NodesChanged receives a value after dynamic nodes were added, replaced or
// removed (one value for any number of changes since the last receive).
func (fs *FS) NodesChanged() <-chan struct{} { return fs.tree.changed }

// ExportState snapshots the dynamic nodes, with their lookup counts, and,
// if handles is set (a hand-over), the open handles. Nodes stay consistent only if no request is being served at the
// same time (the server drained), which handles says, and only then are the
// counts marked exact; a snapshot taken while serving (for the crash holder)
// is still useful, it may only miss the newest entries, and its nodes are
// pinned by whoever imports it.
func (fs *FS) ExportState(handles bool) *State {
	st := &State{Version: StateVersion, HandleEpoch: fs.HandleEpoch(), LookupsExact: handles}
	fs.tree.mu.RLock()
	for _, n := range fs.tree.dyn {
		ns := NodeState{ID: n.id, Parent: n.parent, Name: n.name, Kind: kindName(n.kind), Key: n.key, Rel: n.rel}
		if n.pinned {
			ns.Pinned = true
		} else {
			c := n.lookups
			ns.Lookups = &c
		}
		if n.kind == kindFile {
			ns.File = fileName(n.file)
		}
		st.Nodes = append(st.Nodes, ns)
	}
	fs.tree.mu.RUnlock()
	if !handles {
		return st
	}
	fs.hmu.Lock()
	hs := make(map[uint64]*handle, len(fs.handles))
	for fh, h := range fs.handles {
		hs[fh] = h
	}
	fs.hmu.Unlock()
	for fh, h := range hs {
		if !handedOverKind(h.node.kind) {
			continue
		}
		h.mu.Lock()
		st.Handles = append(st.Handles, HandleState{
			FH: fh, Node: h.node.id, PID: h.openPID,
			Valid: h.valid, Buf: append([]byte(nil), h.buf...),
			Dir: append([]fuse.DirEntry(nil), h.dir...),
		})
		h.mu.Unlock()
	}
	return st
}

// ImportState adds st's nodes and handles to fs. It is called before the
// server starts reading requests. Nodes whose kind or file this version does
// not know are skipped (requests for them fail with ENOENT, as for a node
// that vanished); handles of unknown nodes too. A node keeps its lookup count
// only if st's counts are exact (LookupsExact) and it has one; any other is
// pinned, never removed by Forget: the kernel may hold it any number of
// times.
func (fs *FS) ImportState(st *State) error {
	if st == nil {
		return nil
	}
	if st.Version > StateVersion {
		return fmt.Errorf("state version %d is newer than this binary's %d", st.Version, StateVersion)
	}
	var skipped int
	fs.tree.mu.Lock()
	for _, ns := range st.Nodes {
		kind, ok := kindByName(ns.Kind)
		if !ok || fs.tree.static[ns.ID] != nil {
			skipped++
			continue
		}
		n := &node{id: ns.ID, parent: ns.Parent, name: ns.Name, kind: kind, key: ns.Key, rel: ns.Rel}
		if st.LookupsExact && !ns.Pinned && ns.Lookups != nil && *ns.Lookups > 0 {
			n.lookups = *ns.Lookups
		} else {
			// A count of 0 would be a node the kernel does not hold, which
			// an exact state does not have: not trusted either.
			n.pinned = true
		}
		if kind == kindFile {
			if n.file, ok = fileByName(ns.File); !ok {
				skipped++
				continue
			}
		}
		fs.tree.dyn[ns.ID] = n
	}
	fs.tree.mu.Unlock()
	for _, hs := range st.Handles {
		n := fs.tree.get(hs.Node)
		if n == nil {
			skipped++
			continue
		}
		h := &handle{node: n, openPID: hs.PID, valid: hs.Valid, buf: hs.Buf, dir: hs.Dir}
		fs.hmu.Lock()
		if _, ok := fs.handles[hs.FH]; !ok {
			fs.handles[hs.FH] = h
		}
		fs.hmu.Unlock()
	}
	if skipped > 0 {
		fs.log.Warn("state import skipped entries this version does not know", "count", skipped)
	}
	return nil
}

// adoptDir serves a directory handle that a predecessor gave out but did not
// hand over (it crashed, or opened it while draining): the listing is made
// again, as at opendir, and kept under the old handle.
func (fs *FS) adoptDir(in *fuse.ReadIn) *handle {
	var out fuse.OpenOut
	if st := fs.OpenDir(nil, &fuse.OpenIn{InHeader: in.InHeader}, &out); !st.Ok() {
		return nil
	}
	fs.hmu.Lock()
	defer fs.hmu.Unlock()
	h := fs.handles[out.Fh]
	delete(fs.handles, out.Fh)
	if old, ok := fs.handles[in.Fh]; ok {
		return old
	}
	fs.handles[in.Fh] = h
	return h
}

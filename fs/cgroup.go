package fs

import (
	"errors"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/cgrouptree"
	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// The cgroup/ tree (docs/differences.md): cgroup/<hierarchy>/<path...>, served
// by cgrouptree for the calling thread. What exists, and with which mode,
// differs by caller, and the kernel's dentry and attribute caches are per
// mount: every entry and attribute below cgroup/ has TTL 0, and listings
// are made per caller at opendir.
//
// Nodes are dynamic, keyed "cg:<hierarchy>:<path>" (path relative to the
// hierarchy's root, "/" for the hierarchy directory), so that every daemon
// generation gives a path the same ID. A node names a path, not a cgroup:
// every request checks again what the path is for its caller.

// Sizes reported for cgroup files. cgroupfs says 0, but sendfile(2) (busybox
// cat) stops at st_size; an upper bound keeps it, tail and wc right. Pid
// lists can be long.
const (
	cgroupFileSize = 64 << 10
	cgroupPidsSize = 1 << 20
)

func (fs *FS) addCgroupRoot() {
	fs.tree.static[idCgroup] = &node{id: idCgroup, parent: idRoot, name: "cgroup", kind: kindCgroupTop}
	root := fs.tree.static[idRoot]
	root.children = append(root.children, idCgroup)
}

func isCgroupKind(k nodeKind) bool {
	return k == kindCgroupTop || k == kindCgroupDir || k == kindCgroupFile
}

func cgroupNodeKey(hier, p string) string { return "cg:" + hier + ":" + p }

// cgroupKey splits a cgroup node's key into hierarchy name and path.
// Hierarchy names never hold ':' (v1 names are controllers and the names
// of named hierarchies, [A-Za-z0-9_.-], without "name=").
func cgroupKey(n *node) (hier, p string, ok bool) {
	rest, ok := strings.CutPrefix(n.key, "cg:")
	if !ok {
		return "", "", false
	}
	hier, p, ok = strings.Cut(rest, ":")
	return hier, p, ok && cgrouptree.Clean(p)
}

// cgroupNode returns the node of path p of hierarchy hier, counting a
// lookup of it (see dynNode): for entry replies only.
func (fs *FS) cgroupNode(parent uint64, hier, p string, dir bool) *node {
	kind := kindCgroupFile
	if dir {
		kind = kindCgroupDir
	}
	name := hier
	if p != "/" {
		name = baseName(p)
	}
	return fs.tree.dynNode(&node{parent: parent, name: name, kind: kind, key: cgroupNodeKey(hier, p), rel: p})
}

// cgroupStatus maps cgrouptree errors to statuses.
func cgroupStatus(err error) fuse.Status {
	var errno syscall.Errno
	switch {
	case err == nil:
		return fuse.OK
	case errors.Is(err, hostcgroup.ErrNoProcess):
		return fuse.Status(syscall.ESRCH)
	case errors.As(err, &errno):
		if errno == unix.ELOOP || errno == unix.EXDEV {
			// A link or a mount where a cgroup should be: not ours.
			return fuse.ENOENT
		}
		return fuse.Status(errno)
	}
	return fuse.EIO
}

// cgroupTarget resolves the caller of h and the hierarchy and path of n.
func (fs *FS) cgroupTarget(n *node, h *fuse.InHeader) (*cgrouptree.Requester, *cgrouptree.Hierarchy, string, fuse.Status) {
	hier, p, ok := cgroupKey(n)
	if !ok {
		return nil, nil, "", fuse.ENOENT
	}
	hy := fs.cg.Hierarchy(hier)
	if hy == nil {
		return nil, nil, "", fuse.ENOENT
	}
	c, err := fs.cg.Requester(int(h.Caller.Pid), h.Uid, h.Gid)
	if err != nil {
		return nil, nil, "", cgroupStatus(err)
	}
	return c, hy, p, fuse.OK
}

func (fs *FS) cgroupAttr(n *node, a cgrouptree.Attr, out *fuse.Attr) {
	out.Ino = n.id
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Owner = fuse.Owner{Uid: a.UID, Gid: a.GID}
	out.Blksize = 1 << 20
	if a.Mtime.Sec == 0 {
		t := uint64(fs.start.Unix())
		out.Atime, out.Mtime, out.Ctime = t, t, t
	} else {
		out.Atime, out.Atimensec = uint64(a.Atime.Sec), uint32(a.Atime.Nsec)
		out.Mtime, out.Mtimensec = uint64(a.Mtime.Sec), uint32(a.Mtime.Nsec)
		out.Ctime, out.Ctimensec = uint64(a.Ctime.Sec), uint32(a.Ctime.Nsec)
	}
	if !a.Dir {
		out.Size = cgroupFileSize
		if pids, _ := cgrouptree.PidFile(n.name); pids {
			out.Size = cgroupPidsSize
		}
	}
}

func (fs *FS) cgroupLookup(parent *node, name string, h *fuse.InHeader, out *fuse.EntryOut) fuse.Status {
	var n *node
	var a cgrouptree.Attr
	if parent.kind == kindCgroupTop {
		hy := fs.cg.Hierarchy(name)
		if hy == nil {
			return fuse.ENOENT
		}
		c, err := fs.cg.Requester(int(h.Caller.Pid), h.Uid, h.Gid)
		if err != nil {
			return cgroupStatus(err)
		}
		if a, err = fs.cg.StatDir(c, hy, "/"); err != nil {
			return cgroupStatus(err)
		}
		n = fs.cgroupNode(idCgroup, name, "/", true)
	} else {
		c, hy, p, st := fs.cgroupTarget(parent, h)
		if !st.Ok() {
			return st
		}
		var err error
		if a, err = fs.cg.Lookup(c, hy, p, name); err != nil {
			return cgroupStatus(err)
		}
		n = fs.cgroupNode(parent.id, hy.Name, cgrouptree.Join(p, name), a.Dir)
	}
	fs.cgroupEntry(n, a, out)
	return fuse.OK
}

// cgroupEntry fills an entry reply for cgroup node n with attributes a;
// nothing of the cgroup tree is cached by the kernel (it differs by caller).
func (fs *FS) cgroupEntry(n *node, a cgrouptree.Attr, out *fuse.EntryOut) {
	fs.cgroupAttr(n, a, &out.Attr)
	out.NodeId = n.id
	out.Generation = generation
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
}

func (fs *FS) cgroupGetAttr(n *node, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	out.SetTimeout(0)
	if n.kind == kindCgroupTop {
		return fs.attr(n, &out.Attr)
	}
	c, hy, p, st := fs.cgroupTarget(n, &in.InHeader)
	if !st.Ok() {
		return st
	}
	var a cgrouptree.Attr
	var err error
	if n.kind == kindCgroupDir {
		a, err = fs.cg.StatDir(c, hy, p)
	} else {
		a, err = fs.cg.StatFile(c, hy, p)
	}
	if err != nil {
		return cgroupStatus(err)
	}
	fs.cgroupAttr(n, a, &out.Attr)
	return fuse.OK
}

func (fs *FS) cgroupSetAttr(n *node, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if n.kind == kindCgroupTop {
		return fuse.EPERM
	}
	c, hy, p, st := fs.cgroupTarget(n, &in.InHeader)
	if !st.Ok() {
		return st
	}
	var ch cgrouptree.Change
	if in.Valid&fuse.FATTR_MODE != 0 {
		m := in.Mode & 0o7777
		ch.Mode = &m
	}
	if in.Valid&fuse.FATTR_UID != 0 {
		u := in.Uid
		ch.UID = &u
	}
	if in.Valid&fuse.FATTR_GID != 0 {
		g := in.Gid
		ch.GID = &g
	}
	if in.Valid&fuse.FATTR_SIZE != 0 {
		s := in.Size
		ch.Size = &s
	}
	if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME|fuse.FATTR_ATIME_NOW|fuse.FATTR_MTIME_NOW|fuse.FATTR_CTIME) != 0 {
		ch.Times = true
	}
	a, err := fs.cg.SetAttr(c, hy, p, n.kind == kindCgroupDir, ch)
	if err != nil {
		return cgroupStatus(err)
	}
	out.SetTimeout(0)
	fs.cgroupAttr(n, a, &out.Attr)
	return fuse.OK
}

func (fs *FS) cgroupAccess(n *node, in *fuse.AccessIn) fuse.Status {
	mask := cgrouptree.Access(in.Mask & 7)
	if n.kind == kindCgroupTop {
		if mask&cgrouptree.W != 0 {
			return fuse.EACCES
		}
		return fuse.OK
	}
	c, hy, p, st := fs.cgroupTarget(n, &in.InHeader)
	if !st.Ok() {
		return st
	}
	return cgroupStatus(fs.cg.Access(c, hy, p, n.kind == kindCgroupDir, mask))
}

func (fs *FS) cgroupOpen(n *node, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if n.kind != kindCgroupFile {
		return fuse.EISDIR
	}
	c, hy, p, st := fs.cgroupTarget(n, &in.InHeader)
	if !st.Ok() {
		return st
	}
	f, err := fs.cg.Open(c, hy, p, in.Flags)
	if err != nil {
		return cgroupStatus(err)
	}
	out.Fh = fs.addHandle(&handle{node: n, openPID: int(in.Caller.Pid), cg: f})
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

// cgroupReader resolves the thread behind a read or write; nil for
// kernel-issued requests (pid 0), which then act as the opener.
func (fs *FS) cgroupReader(h *fuse.InHeader) (*cgrouptree.Requester, fuse.Status) {
	if h.Caller.Pid == 0 {
		return nil, fuse.OK
	}
	c, err := fs.cg.Requester(int(h.Caller.Pid), h.Uid, h.Gid)
	if err != nil {
		return nil, cgroupStatus(err)
	}
	return c, fuse.OK
}

func (fs *FS) isCgroupFile(id uint64) bool {
	n := fs.tree.get(id)
	return n != nil && n.kind == kindCgroupFile
}

// reopenForRead opens the file of n again, read-only, for the thread
// behind in: for a handle this generation did not open (a predecessor's,
// handed over without its real file, or not handed over at all).
func (fs *FS) reopenForRead(n *node, in *fuse.ReadIn) (*cgrouptree.OpenFile, fuse.Status) {
	if in.Caller.Pid == 0 {
		return nil, fuse.EBADF
	}
	c, hy, p, st := fs.cgroupTarget(n, &in.InHeader)
	if !st.Ok() {
		return nil, st
	}
	f, err := fs.cg.Open(c, hy, p, unix.O_RDONLY)
	if err != nil {
		return nil, cgroupStatus(err)
	}
	return f, fuse.OK
}

// cgroupRead serves a read like the proc files do: the content is made at
// offset 0 and kept with the handle. A handle this generation did not open
// is opened again read-only for the reading thread, with its permissions.
func (fs *FS) cgroupRead(h *handle, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if h == nil {
		n := fs.tree.get(in.NodeId)
		if n == nil || n.kind != kindCgroupFile {
			return nil, fuse.EBADF
		}
		f, st := fs.reopenForRead(n, in)
		if !st.Ok() {
			return nil, st
		}
		var added bool
		if h, added = fs.adoptHandle(in.Fh, &handle{node: n, openPID: int(in.Caller.Pid), cg: f}); !added {
			f.Close()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cg == nil && (in.Offset == 0 || !h.valid) {
		f, st := fs.reopenForRead(h.node, in)
		if !st.Ok() {
			return nil, st
		}
		h.cg = f
	}
	if in.Offset == 0 || !h.valid {
		reader, st := fs.cgroupReader(&in.InHeader)
		if !st.Ok() {
			return nil, st
		}
		b, err := h.cg.Read(reader)
		if err != nil {
			h.valid = false
			return nil, cgroupStatus(err)
		}
		h.buf, h.valid = b, true
	}
	return readAt(h.buf, in.Offset, buf), fuse.OK
}

// cgroupWrite passes one write to the real file, whatever the offset: a
// cgroup file takes each write(2) whole, as kernfs does.
func (fs *FS) cgroupWrite(h *handle, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	writer, st := fs.cgroupReader(&in.InHeader)
	if !st.Ok() {
		return 0, st
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cg == nil {
		// A predecessor's handle: who opened it, and may write, is gone
		// with it.
		return 0, fuse.EBADF
	}
	n, err := h.cg.Write(writer, data)
	if err != nil {
		return 0, cgroupStatus(err)
	}
	return uint32(n), fuse.OK
}

func (fs *FS) cgroupMkdir(parent *node, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	if parent.kind != kindCgroupDir {
		return fuse.EPERM
	}
	c, hy, p, st := fs.cgroupTarget(parent, &in.InHeader)
	if !st.Ok() {
		return st
	}
	a, err := fs.cg.Mkdir(c, hy, p, name, in.Mode&^in.Umask&0o777)
	if err != nil {
		return cgroupStatus(err)
	}
	n := fs.cgroupNode(parent.id, hy.Name, cgrouptree.Join(p, name), true)
	fs.cgroupEntry(n, a, out)
	return fuse.OK
}

func (fs *FS) cgroupRmdir(parent *node, h *fuse.InHeader, name string) fuse.Status {
	if parent.kind != kindCgroupDir {
		return fuse.EPERM
	}
	c, hy, p, st := fs.cgroupTarget(parent, h)
	if !st.Ok() {
		return st
	}
	return cgroupStatus(fs.cg.Rmdir(c, hy, p, name))
}

func (fs *FS) cgroupList(n *node, in *fuse.OpenIn) ([]fuse.DirEntry, fuse.Status) {
	entries := []fuse.DirEntry{
		{Name: ".", Ino: n.id, Mode: syscall.S_IFDIR},
		{Name: "..", Ino: n.parent, Mode: syscall.S_IFDIR},
	}
	if n.kind == kindCgroupTop {
		for _, hy := range fs.cg.Hierarchies() {
			// IDs only: a listing is not a lookup, the kernel would
			// never forget a node made for it (tree.go).
			id := fs.tree.dynID(cgroupNodeKey(hy.Name, "/"))
			entries = append(entries, fuse.DirEntry{Name: hy.Name, Ino: id, Mode: syscall.S_IFDIR})
		}
		return entries, fuse.OK
	}
	if n.kind != kindCgroupDir {
		return nil, fuse.ENOTDIR
	}
	c, hy, p, st := fs.cgroupTarget(n, &in.InHeader)
	if !st.Ok() {
		return nil, st
	}
	list, err := fs.cg.List(c, hy, p)
	if err != nil {
		return nil, cgroupStatus(err)
	}
	for _, e := range list {
		id := fs.tree.dynID(cgroupNodeKey(hy.Name, cgrouptree.Join(p, e.Name)))
		mode := uint32(syscall.S_IFREG)
		if e.Dir {
			mode = syscall.S_IFDIR
		}
		entries = append(entries, fuse.DirEntry{Name: e.Name, Ino: id, Mode: mode})
	}
	return entries, fuse.OK
}

// closeCgroupHandle closes the real file behind a handle being released.
func closeCgroupHandle(h *handle) {
	if h != nil && h.cg != nil {
		h.cg.Close()
	}
}

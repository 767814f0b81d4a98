package fs

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/cgrouptree"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// Cache lifetimes the kernel may keep. Attributes that are the same for
// every caller are cached as lxcfs does (0.5 s: st_size follows the host
// file's length). The names of the fixed tree (proc/meminfo, proc/pressure,
// sys/devices/system/cpu, cgroup) never change while the daemon runs, so
// the kernel keeps them for staticEntryTTL: a reader opening
// /proc/meminfo once a second (a monitoring agent, top) then costs OPEN,
// READ and RELEASE instead of two LOOKUPs more, as with lxcfs's 0.5 s.
// Anything whose existence differs by caller (the cpuN directories, the
// cgroup tree) is never cached, since the kernel's dentry cache is per
// mount, not per caller.
const (
	staticTTL      = 500 * time.Millisecond
	staticEntryTTL = time.Hour
)

// Content renders virtual files for a calling thread; *content.Source is the
// real one, tests use fakes.
type Content interface {
	Render(dst []byte, f vfiles.File, tid int) ([]byte, error)
	CPUView(tid int) (proc.CPUView, error)
	// SizeHint is an upper bound of the file's size for any caller.
	SizeHint(f vfiles.File) uint64
}

// Options configures FS.
type Options struct {
	Content Content
	// SysFS is the host sysfs root the cpu tree mirrors; "/sys" on a host.
	SysFS  string
	Logger *slog.Logger
	// HandleEpoch goes into the top 16 bits of every file handle, so that a
	// successor never reuses a handle its predecessor gave out.
	HandleEpoch uint16
	// Cgroup serves the cgroup/ tree; nil leaves it out (--disable-cgroup).
	Cgroup *cgrouptree.Tree
}

// FS is the raw FUSE filesystem: proc files, the sys cpu tree.
type FS struct {
	fuse.RawFileSystem
	src      Content
	sysCPU   string // host path of /sys/devices/system/cpu
	sysNode  string // host path of /sys/devices/system/node
	sysBlock string // host path of /sys/block
	log      *slog.Logger
	tree     *tree
	start    time.Time
	cg       *cgrouptree.Tree // nil: no cgroup/ tree
	// contentBufs holds the content buffers of released handles (see
	// contentBuf).
	contentBufs chan []byte

	nextFH  atomic.Uint64
	fhEpoch uint64
	hmu     sync.Mutex
	handles map[uint64]*handle
}

// handle is one open file or directory.
type handle struct {
	node    *node
	openPID int

	mu    sync.Mutex
	valid bool
	buf   []byte               // file: the snapshot of the last offset-0 read
	dir   []fuse.DirEntry      // directory: the listing made at opendir
	cg    *cgrouptree.OpenFile // a cgroup file: the real file (cgroup.go)
	psi   *psiHandle           // proc/pressure/* opened for a trigger (poll.go)
}

var _ fuse.RawFileSystem = (*FS)(nil)

// New builds the filesystem.
func New(opts Options) *FS {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SysFS == "" {
		opts.SysFS = "/sys"
	}
	fs := &FS{
		contentBufs:   make(chan []byte, 4*maxReaders),
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		src:           opts.Content,
		sysCPU:        filepath.Join(opts.SysFS, "devices/system/cpu"),
		sysNode:       filepath.Join(opts.SysFS, "devices/system/node"),
		sysBlock:      filepath.Join(opts.SysFS, "block"),
		log:           opts.Logger,
		tree:          newTree(),
		start:         time.Now(),
		fhEpoch:       uint64(opts.HandleEpoch) << 48,
		handles:       map[uint64]*handle{},
		cg:            opts.Cgroup,
	}
	if fs.cg != nil {
		fs.addCgroupRoot()
	}
	return fs
}

func (fs *FS) String() string { return "lxcfs-go" }

// attr fills the attributes of n. Virtual files report an upper bound of
// their size rather than procfs's 0: sendfile(2) and splice(2) on a FUSE
// file go through the page cache, which stops at st_size, so with 0 busybox
// cat (which uses sendfile) would print nothing. A bound no more than a few
// pages above the content keeps tail and wc -c right too.
func (fs *FS) attr(n *node, out *fuse.Attr) fuse.Status {
	out.Ino = n.id
	out.Owner = fuse.Owner{Uid: 0, Gid: 0}
	t := uint64(fs.start.Unix())
	out.Atime, out.Mtime, out.Ctime = t, t, t
	// A large block size keeps GNU wc -c reading to the end instead of
	// trusting st_size (it skips to the last multiple of blksize+1).
	out.Blksize = 1 << 20
	switch n.kind {
	case kindDir, kindCgroupTop:
		out.Mode = syscall.S_IFDIR | 0o555
		out.Nlink = 2
	case kindFile:
		out.Mode = syscall.S_IFREG | 0o444
		out.Nlink = 1
		out.Size = fs.src.SizeHint(n.file)
	case kindSysDir, kindSysFile, kindSysLink, kindNodeFile, kindBlockStat:
		return fs.sysAttr(n, out)
	}
	return fuse.OK
}

func (fs *FS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	parent := fs.tree.get(h.NodeId)
	if parent == nil {
		return fuse.ENOENT
	}
	if parent.kind == kindCgroupTop || parent.kind == kindCgroupDir {
		return fs.cgroupLookup(parent, name, h, out)
	}
	var n *node
	ttl := staticTTL
	switch parent.kind {
	case kindDir:
		n = fs.tree.child(parent, name)
		ttl = staticEntryTTL
	case kindSysDir:
		var st fuse.Status
		n, ttl, st = fs.sysLookup(parent, name, int(h.Caller.Pid))
		if !st.Ok() {
			return st
		}
	}
	if n == nil {
		return fuse.ENOENT
	}
	if st := fs.attr(n, &out.Attr); !st.Ok() {
		// sysLookup counted a lookup of a dynamic node the kernel does
		// not get after all.
		fs.tree.forget(n.id, 1)
		return st
	}
	out.NodeId = n.id
	out.Generation = generation
	out.SetEntryTimeout(ttl)
	out.SetAttrTimeout(staticTTL)
	return fuse.OK
}

// Forget takes nlookup lookups off a dynamic node (sys mirror, cgroup/
// tree); the node leaves the table when the kernel holds none (tree.go).
// Static nodes live forever, and so do pinned ones (imported without a
// count they could trust). go-fuse calls Forget for every entry of
// BATCH_FORGET too.
func (fs *FS) Forget(nodeid, nlookup uint64) {
	if !fs.tree.forget(nodeid, nlookup) {
		fs.log.Warn("the kernel forgot more lookups of a node than were counted; keeping it", "node", nodeid, "nlookup", nlookup)
	}
}

func (fs *FS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	n := fs.tree.get(in.NodeId)
	if n == nil {
		return fuse.ENOENT
	}
	if isCgroupKind(n.kind) {
		return fs.cgroupGetAttr(n, in, out)
	}
	out.SetTimeout(staticTTL)
	return fs.attr(n, &out.Attr)
}

// SetAttr refuses every change: nothing here is writable, and no change may
// reach the host.
func (fs *FS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	n := fs.tree.get(in.NodeId)
	if n == nil {
		return fuse.ENOENT
	}
	if isCgroupKind(n.kind) {
		return fs.cgroupSetAttr(n, in, out)
	}
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		return fuse.EPERM
	}
	return fuse.EACCES
}

func (fs *FS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	n := fs.tree.get(in.NodeId)
	if n == nil {
		return fuse.ENOENT
	}
	if isCgroupKind(n.kind) {
		return fs.cgroupAccess(n, in)
	}
	if in.Mask&unix.W_OK != 0 {
		return fuse.EACCES
	}
	if in.Mask&unix.X_OK != 0 && n.kind != kindDir && n.kind != kindSysDir {
		return fuse.EACCES
	}
	return fuse.OK
}

func (fs *FS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	n := fs.tree.get(h.NodeId)
	if n == nil || n.kind != kindSysLink {
		return nil, fuse.EINVAL
	}
	target, err := os.Readlink(filepath.Join(fs.sysRoot(n), n.rel))
	if err != nil {
		return nil, errnoOf(err)
	}
	return []byte(target), fuse.OK
}

// The tree's shape is fixed: every change is refused.

func (fs *FS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.EPERM
}
func (fs *FS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	if n := fs.tree.get(in.NodeId); n != nil && isCgroupKind(n.kind) {
		return fs.cgroupMkdir(n, in, name, out)
	}
	return fuse.EPERM
}
func (fs *FS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return fuse.EPERM
}
func (fs *FS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if n := fs.tree.get(h.NodeId); n != nil && isCgroupKind(n.kind) {
		return fs.cgroupRmdir(n, h, name)
	}
	return fuse.EPERM
}
func (fs *FS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	return fuse.EPERM
}
func (fs *FS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.EPERM
}
func (fs *FS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.EPERM
}
func (fs *FS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	return fuse.EACCES
}

func (fs *FS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := fs.tree.get(in.NodeId)
	if n == nil {
		return fuse.ENOENT
	}
	if isCgroupKind(n.kind) {
		return fs.cgroupOpen(n, in, out)
	}
	switch n.kind {
	case kindFile, kindSysFile, kindNodeFile, kindBlockStat:
	case kindDir, kindSysDir:
		return fuse.EISDIR
	default:
		return fuse.EINVAL
	}
	if in.Flags&uint32(unix.O_ACCMODE) != unix.O_RDONLY && n.kind == kindFile && n.file.Pressure() {
		return fs.psiOpen(n, in, out) // PSI triggers (poll.go)
	}
	if in.Flags&uint32(unix.O_ACCMODE) != unix.O_RDONLY || in.Flags&unix.O_TRUNC != 0 {
		return fuse.EACCES
	}
	out.Fh = fs.addHandle(&handle{node: n, openPID: int(in.Caller.Pid)})
	// Direct I/O: every read(2) reaches us, and no page cache serves stale
	// or truncated data. No flush: close needs no round trip.
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

func (fs *FS) addHandle(h *handle) uint64 {
	fh := fs.fhEpoch | fs.nextFH.Add(1)&(1<<48-1)
	fs.hmu.Lock()
	fs.handles[fh] = h
	fs.hmu.Unlock()
	return fh
}

func (fs *FS) handle(fh uint64) *handle {
	fs.hmu.Lock()
	defer fs.hmu.Unlock()
	return fs.handles[fh]
}

func (fs *FS) dropHandle(fh uint64) {
	fs.hmu.Lock()
	delete(fs.handles, fh)
	fs.hmu.Unlock()
}

// Read regenerates the content at offset 0 and keeps it with the handle;
// reads at other offsets slice that copy, so a file read in pieces is one
// consistent snapshot, and tools that lseek(0) before each sample (top,
// free -s, vmstat) see fresh values.
func (fs *FS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	h := fs.handle(in.Fh)
	if (h != nil && h.node.kind == kindCgroupFile) || (h == nil && fs.isCgroupFile(in.NodeId)) {
		return fs.cgroupRead(h, in, buf)
	}
	if h == nil {
		// A handle from a predecessor that did not hand it over: serve it
		// as if freshly opened.
		n := fs.tree.get(in.NodeId)
		if n == nil || (n.kind != kindFile && n.kind != kindSysFile && n.kind != kindNodeFile && n.kind != kindBlockStat) {
			return nil, fuse.EBADF
		}
		h, _ = fs.adoptHandle(in.Fh, &handle{node: n, openPID: int(in.Caller.Pid)})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if in.Offset == 0 || !h.valid {
		pid := int(in.Caller.Pid)
		if pid == 0 {
			pid = h.openPID // kernel-issued (async) reads carry no pid
		}
		if h.buf == nil {
			h.buf = fs.contentBuf()
		}
		b, err := fs.render(h.buf[:0], h.node, pid)
		if err != nil {
			h.valid = false
			return nil, errnoOf(err)
		}
		h.buf, h.valid = b, true
	}
	return readAt(h.buf, in.Offset, buf), fuse.OK
}

func (fs *FS) render(dst []byte, n *node, pid int) ([]byte, error) {
	switch n.kind {
	case kindFile:
		return fs.src.Render(dst, n.file, pid)
	case kindSysFile:
		return fs.sysRead(dst, n)
	case kindNodeFile:
		return fs.nodeRender(dst, n, pid)
	case kindBlockStat:
		return fs.blockRender(dst, n, pid)
	}
	return dst, syscall.EINVAL
}

func (fs *FS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if h := fs.handle(in.Fh); h != nil && h.node.kind == kindCgroupFile {
		return fs.cgroupWrite(h, in, data)
	}
	if h := fs.handle(in.Fh); h != nil && h.psi != nil {
		return fs.psiWrite(h, in, data)
	}
	return 0, fuse.EACCES
}

func (fs *FS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	h := fs.handle(in.Fh)
	closeCgroupHandle(h)
	closePSIHandle(h)
	fs.dropHandle(in.Fh)
	fs.releaseContent(h)
}

// maxPooledContent keeps unusually large contents (a cgroup file of a big
// cgroup) off the list.
const maxPooledContent = 64 << 10

// contentBuf is an empty buffer for a handle's content, nil if none is
// free. Nearly every open is read once and closed, so the next open reuses a
// released handle's buffer instead of growing one from nothing in each
// render. Opens in flight at once are bounded by the readers, so a short
// list suffices.
func (fs *FS) contentBuf() []byte {
	select {
	case b := <-fs.contentBufs:
		return b
	default:
		return nil
	}
}

// releaseContent puts a released handle's content buffer on the list. The
// kernel sends RELEASE only after every read of the handle was answered, and
// readAt copies out of the buffer, so nothing refers to it any more.
func (fs *FS) releaseContent(h *handle) {
	if h == nil {
		return
	}
	h.mu.Lock()
	b := h.buf
	h.buf, h.valid = nil, false
	h.mu.Unlock()
	if cap(b) == 0 || cap(b) > maxPooledContent {
		return
	}
	select {
	case fs.contentBufs <- b[:0]:
	default:
	}
}

func (fs *FS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status { return fuse.OK }

func (fs *FS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status { return fuse.OK }

func (fs *FS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := fs.tree.get(in.NodeId)
	if n == nil {
		return fuse.ENOENT
	}
	var entries []fuse.DirEntry
	switch n.kind {
	case kindDir:
		entries = append(entries, fuse.DirEntry{Name: ".", Ino: n.id, Mode: syscall.S_IFDIR},
			fuse.DirEntry{Name: "..", Ino: n.parent, Mode: syscall.S_IFDIR})
		for _, id := range n.children {
			c := fs.tree.static[id]
			mode := uint32(syscall.S_IFREG)
			if c.kind == kindDir || c.kind == kindSysDir || c.kind == kindCgroupTop {
				mode = syscall.S_IFDIR
			}
			entries = append(entries, fuse.DirEntry{Name: c.name, Ino: c.id, Mode: mode})
		}
	case kindSysDir:
		var st fuse.Status
		entries, st = fs.sysList(n, int(in.Caller.Pid))
		if !st.Ok() {
			return st
		}
	case kindCgroupTop, kindCgroupDir:
		var st fuse.Status
		entries, st = fs.cgroupList(n, in)
		if !st.Ok() {
			return st
		}
	default:
		return fuse.ENOTDIR
	}
	for i := range entries {
		entries[i].Off = uint64(i + 1)
	}
	out.Fh = fs.addHandle(&handle{node: n, dir: entries})
	return fuse.OK
}

func (fs *FS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	h := fs.handle(in.Fh)
	if h == nil {
		h = fs.adoptDir(in) // a predecessor's handle (state.go)
	}
	if h == nil {
		return fuse.EBADF
	}
	for _, e := range h.dir[min(int(in.Offset), len(h.dir)):] {
		if !out.AddDirEntry(e) {
			break
		}
	}
	return fuse.OK
}

func (fs *FS) ReleaseDir(in *fuse.ReleaseIn) { fs.dropHandle(in.Fh) }

func (fs *FS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status { return fuse.OK }

func (fs *FS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize = 4096
	out.Frsize = 4096
	out.NameLen = 255
	return fuse.OK
}

// cpuDir matches the name of a cpuN directory.
var cpuDir = regexp.MustCompile(`^cpu[0-9]+$`)

func cpuNumber(name string) (int, bool) {
	if !cpuDir.MatchString(name) {
		return 0, false
	}
	n, err := strconv.Atoi(name[3:])
	return n, err == nil
}

// visibleCPUNames lists the cpuN directory names the caller sees. Under
// --enable-cfs the view is renumbered 0..n-1 and cpuK mirrors host cpuK.
func visibleCPUNames(host []int, renumber bool) []string {
	names := make([]string, len(host))
	for i, c := range host {
		if renumber {
			c = i
		}
		names[i] = "cpu" + strconv.Itoa(c)
	}
	return names
}

func containsName(names []string, name string) bool { return slices.Contains(names, name) }

// adoptHandle registers h under fh, a handle a predecessor gave out
// without handing it over, unless a concurrent request did so first: then
// that handle is returned and added is false.
func (fs *FS) adoptHandle(fh uint64, h *handle) (_ *handle, added bool) {
	fs.hmu.Lock()
	defer fs.hmu.Unlock()
	if old, ok := fs.handles[fh]; ok {
		return old, false
	}
	fs.handles[fh] = h
	return h, true
}

// readAt is the part of content at off that fits buf, copied into buf:
// nothing at or past the end (read(2)'s end of file).
func readAt(content []byte, off uint64, buf []byte) fuse.ReadResult {
	if off >= uint64(len(content)) {
		return fuse.ReadResultData(nil)
	}
	n := copy(buf, content[off:])
	return fuse.ReadResultData(buf[:n])
}

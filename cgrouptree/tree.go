package cgrouptree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// Resolver finds whose cgroups a request sees; *hostcgroup.View is one.
type Resolver interface {
	ContainerInit(tid int) (ref, init hostcgroup.Process, err error)
	Cgroups(pid int) (hostcgroup.Cgroups, error)
}

// Options configures a Tree.
type Options struct {
	// Layout lists the hierarchies to serve.
	Layout *hostcgroup.Layout
	// MountPrefix is prepended to each mount point ("" on a host).
	MountPrefix string
	// ProcFS is the procfs root; "/proc" when empty.
	ProcFS   string
	Resolver Resolver
	// Virtualizing reports whether per-container views are on (SIGUSR2);
	// while off, everything below the hierarchy directories fails with
	// EIO rather than showing the host's whole tree. nil means always on.
	Virtualizing func() bool
	Logger       *slog.Logger
}

// Hierarchy is one served hierarchy and its root, held open.
type Hierarchy struct {
	// Name is the directory name: the controller list as /proc/self/cgroup
	// prints it ("cpu,cpuacct"), a named hierarchy without its "name="
	// ("systemd", as lxcfs names it), or "unified".
	Name    string
	Version int
	ctrl    string // key of hostcgroup.Cgroups.V1; "" for cgroup2
	root    string // the cgroup at the mount's root
	fd      int    // O_PATH|O_DIRECTORY fd of the mount's root
}

// Tree serves the cgroup/ tree. It is safe for concurrent use.
type Tree struct {
	hs      []*Hierarchy
	procFS  string
	res     Resolver
	virt    func() bool
	log     *slog.Logger
	selfNS  struct{ ino, dev uint64 }
	noIoctl bool
}

// New opens the root of every hierarchy in opts.Layout: the v1 ones in
// mountinfo order, then the cgroup2 one as "unified". A hierarchy whose
// root cannot be opened is left out and logged.
func New(opts Options) (*Tree, error) {
	if opts.Layout == nil || opts.Resolver == nil {
		return nil, errors.New("cgrouptree: a layout and a resolver are required")
	}
	t := &Tree{procFS: opts.ProcFS, res: opts.Resolver, virt: opts.Virtualizing, log: opts.Logger}
	if t.procFS == "" {
		t.procFS = "/proc"
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	var st unix.Stat_t
	if err := unix.Stat(t.procFS+"/self/ns/pid", &st); err != nil {
		return nil, fmt.Errorf("cgrouptree: own pid namespace: %w", err)
	}
	t.selfNS.ino, t.selfNS.dev = st.Ino, st.Dev
	add := func(h hostcgroup.Hierarchy, name, ctrl string) {
		dir := opts.MountPrefix + h.MountPoint
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.log.Warn("cgroup hierarchy left out of cgroup/", "hierarchy", name, "mount", dir, "err", err)
			return
		}
		for _, o := range t.hs {
			if o.Name == name {
				unix.Close(fd)
				return
			}
		}
		t.hs = append(t.hs, &Hierarchy{Name: name, Version: h.Version, ctrl: ctrl, root: h.Root, fd: fd})
	}
	for _, h := range opts.Layout.Hierarchies {
		if len(h.Controllers) == 0 {
			continue
		}
		add(h, HierarchyName(h.Controllers), h.Controllers[0])
	}
	if u := opts.Layout.Unified; u != nil {
		add(*u, "unified", "")
	}
	return t, nil
}

// HierarchyName is the name of a v1 hierarchy with these controllers (as
// its mount's super options list them, which is the kernel's order, the
// one /proc/<pid>/cgroup prints), with "name=" dropped from a named
// hierarchy: lxcfs lists the named hierarchy "name=systemd" as "systemd"
// (the base name of its mount), and its LXC hook binds cgroup/<name> to
// /sys/fs/cgroup/<name>, where systemd looks for "systemd".
func HierarchyName(controllers []string) string {
	names := make([]string, len(controllers))
	for i, c := range controllers {
		names[i] = strings.TrimPrefix(c, "name=")
	}
	return strings.Join(names, ",")
}

// Close releases the hierarchy roots.
func (t *Tree) Close() {
	for _, h := range t.hs {
		unix.Close(h.fd)
	}
	t.hs = nil
}

// Hierarchies lists the served hierarchies in order.
func (t *Tree) Hierarchies() []*Hierarchy { return t.hs }

// Hierarchy returns the hierarchy called name, or nil.
func (t *Tree) Hierarchy(name string) *Hierarchy {
	for _, h := range t.hs {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Requester is one requesting thread, resolved (its credentials, its
// container's cgroups).
type Requester struct {
	TID    int
	Status Status
	Creds  Creds
	ref    hostcgroup.Process
	cgs    hostcgroup.Cgroups
}

// Requester resolves thread tid, whose fsuid and fsgid (as FUSE sent them)
// are uid and gid.
func (t *Tree) Requester(tid int, uid, gid uint32) (*Requester, error) {
	if t.virt != nil && !t.virt() {
		return nil, unix.EIO
	}
	if tid <= 0 {
		return nil, fmt.Errorf("%w: request without a pid", hostcgroup.ErrNoProcess)
	}
	ref, _, err := t.res.ContainerInit(tid)
	if err != nil {
		return nil, err
	}
	cgs, err := t.res.Cgroups(ref.PID)
	if err != nil {
		return nil, err
	}
	if err := t.sameProcess(ref); err != nil {
		return nil, err
	}
	st, err := readStatus(t.procFS, tid)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hostcgroup.ErrNoProcess, err)
	}
	c := &Requester{TID: tid, Status: st, ref: ref, cgs: cgs}
	c.Creds = Creds{UID: uid, GID: gid, EUID: st.UIDs[1], Groups: st.Groups, CapEff: st.CapEff}
	for _, m := range []struct {
		file string
		dst  *IDMap
	}{{"uid_map", &c.Creds.UIDMap}, {"gid_map", &c.Creds.GIDMap}} {
		b, err := os.ReadFile(t.procFS + "/" + strconv.Itoa(tid) + "/" + m.file)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", hostcgroup.ErrNoProcess, err)
		}
		if *m.dst, err = ParseIDMap(b); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// sameProcess fails unless ref still runs (same start time): a pid reused
// while its cgroups were read would show another process's cgroups.
func (t *Tree) sameProcess(ref hostcgroup.Process) error {
	b, err := os.ReadFile(t.procFS + "/" + strconv.Itoa(ref.PID) + "/stat")
	if err != nil {
		return fmt.Errorf("%w: %v", hostcgroup.ErrNoProcess, err)
	}
	start, err := hostfs.ParseStatStartTicks(b)
	if err != nil || start != ref.StartTicks {
		return fmt.Errorf("%w: pid %d was replaced", hostcgroup.ErrNoProcess, ref.PID)
	}
	return nil
}

// Cgroup is the caller's cgroup in h relative to h's mount root; "" when
// it has none there.
func (c *Requester) Cgroup(h *Hierarchy) string { return cgroupIn(c.cgs, h) }

func cgroupIn(cgs hostcgroup.Cgroups, h *Hierarchy) string {
	var p string
	if h.Version == 2 {
		if !cgs.HasUnified {
			return ""
		}
		p = cgs.Unified
	} else {
		var ok bool
		if p, ok = cgs.V1[h.ctrl]; !ok {
			return ""
		}
	}
	r, ok := Relative(p, h.root)
	if !ok {
		return ""
	}
	return r
}

// verify fails with ESTALE unless the caller's cgroup in h is still the
// one its request was resolved with: called after every open, before
// anything is read or changed through it, so that a cgroup renamed (v1)
// in between cannot make a path name another cgroup.
func (t *Tree) verify(c *Requester, h *Hierarchy) error {
	cgs, err := t.res.Cgroups(c.ref.PID)
	if err != nil || cgroupIn(cgs, h) != c.Cgroup(h) || t.sameProcess(c.ref) != nil {
		return unix.ESTALE
	}
	return nil
}

// resolveFlags keep every open below the hierarchy root, on its mount,
// without following any link.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// openBeneath opens path relative to dirfd with resolveFlags.
func openBeneath(dirfd int, path string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Resolve: resolveFlags}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, path, &how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 16 {
			continue
		}
		return fd, err
	}
}

// Attr is what the mount shows of a file or directory.
type Attr struct {
	Mode         uint32 // type and permission bits
	UID, GID     uint32
	Nlink        uint32
	Atime, Mtime unix.Timespec
	Ctime        unix.Timespec
	Dir          bool
	synthetic    bool
}

func attrOf(st *unix.Stat_t) Attr {
	return Attr{
		Mode: st.Mode, UID: st.Uid, GID: st.Gid, Nlink: uint32(st.Nlink),
		Atime: st.Atim, Mtime: st.Mtim, Ctime: st.Ctim,
		Dir: st.Mode&unix.S_IFMT == unix.S_IFDIR,
	}
}

func (a Attr) file() File { return File{Mode: a.Mode, UID: a.UID, GID: a.GID, Dir: a.Dir} }

// ancestorAttr is what a directory above the caller's cgroup shows: a
// read-only directory of root's, whatever the host's real one is.
var ancestorAttr = Attr{Mode: unix.S_IFDIR | 0o555, Nlink: 2, Dir: true, synthetic: true}

// Synthetic reports whether a is made up (an ancestor) rather than real.
func (a Attr) Synthetic() bool { return a.synthetic }

// openDir opens the Inside directory p as an O_PATH fd and verifies the
// caller; its attributes come with it.
func (t *Tree) openDir(c *Requester, h *Hierarchy, p string, flags int) (int, Attr, error) {
	return t.openVerified(c, h, p, flags|unix.O_DIRECTORY)
}

// openVerified opens p beneath the hierarchy with flags, then checks that
// the caller is still where it was (verify) and stats what it opened. The
// fd is the caller's to close.
func (t *Tree) openVerified(c *Requester, h *Hierarchy, p string, flags int) (int, Attr, error) {
	fd, err := openBeneath(h.fd, rel(p), flags)
	if err != nil {
		return -1, Attr{}, err
	}
	if err := t.verify(c, h); err != nil {
		unix.Close(fd)
		return -1, Attr{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, Attr{}, err
	}
	return fd, attrOf(&st), nil
}

// StatDir returns the attributes of directory p.
func (t *Tree) StatDir(c *Requester, h *Hierarchy, p string) (Attr, error) {
	switch v, _ := Classify(c.Cgroup(h), p); v {
	case Hidden:
		return Attr{}, unix.ENOENT
	case Ancestor:
		return ancestorAttr, nil
	}
	fd, a, err := t.openDir(c, h, p, unix.O_PATH)
	if err != nil {
		return Attr{}, err
	}
	unix.Close(fd)
	return a, nil
}

// StatFile returns the attributes of file p.
func (t *Tree) StatFile(c *Requester, h *Hierarchy, p string) (Attr, error) {
	if !FileVisible(c.Cgroup(h), p) {
		return Attr{}, unix.ENOENT
	}
	fd, a, err := t.openVerified(c, h, p, unix.O_PATH)
	if err != nil {
		return Attr{}, err
	}
	unix.Close(fd)
	if a.Mode&unix.S_IFMT != unix.S_IFREG {
		return Attr{}, unix.ENOENT
	}
	return a, nil
}

// Lookup returns the attributes of name in directory dir.
func (t *Tree) Lookup(c *Requester, h *Hierarchy, dir, name string) (Attr, error) {
	if !ValidName(name) {
		return Attr{}, unix.ENOENT
	}
	v, next := Classify(c.Cgroup(h), dir)
	switch v {
	case Hidden:
		return Attr{}, unix.ENOENT
	case Ancestor:
		if name != next {
			return Attr{}, unix.ENOENT
		}
		return t.StatDir(c, h, Join(dir, name))
	}
	pfd, pa, err := t.openDir(c, h, dir, unix.O_PATH)
	if err != nil {
		return Attr{}, err
	}
	defer unix.Close(pfd)
	if !MayAccess(&c.Creds, pa.file(), X) {
		return Attr{}, unix.EACCES
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Attr{}, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR, unix.S_IFREG:
		return attrOf(&st), nil
	}
	return Attr{}, unix.ENOENT
}

// Entry is one name in a listing.
type Entry struct {
	Name string
	Dir  bool
}

// List lists directory dir: only the next step in an ancestor; files, then
// directories, in a cgroup the caller may read.
func (t *Tree) List(c *Requester, h *Hierarchy, dir string) ([]Entry, error) {
	v, next := Classify(c.Cgroup(h), dir)
	switch v {
	case Hidden:
		return nil, unix.ENOENT
	case Ancestor:
		if next == "" {
			return nil, nil
		}
		if _, err := t.StatDir(c, h, Join(dir, next)); err != nil {
			return nil, nil
		}
		return []Entry{{Name: next, Dir: true}}, nil
	}
	fd, a, err := t.openDir(c, h, dir, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	if !MayAccess(&c.Creds, a.file(), R) {
		return nil, unix.EACCES
	}
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var files, dirs []Entry
	for _, de := range des {
		switch {
		case de.Type().IsRegular():
			files = append(files, Entry{Name: de.Name()})
		case de.IsDir():
			dirs = append(dirs, Entry{Name: de.Name(), Dir: true})
		}
	}
	return append(files, dirs...), nil
}

// Access checks access(2) mask (R, W, X bits) on p for the caller.
func (t *Tree) Access(c *Requester, h *Hierarchy, p string, dir bool, mask Access) error {
	var a Attr
	var err error
	if dir {
		a, err = t.StatDir(c, h, p)
	} else {
		a, err = t.StatFile(c, h, p)
	}
	if err != nil {
		return err
	}
	if a.synthetic {
		if mask&W != 0 {
			return unix.EACCES
		}
		return nil
	}
	if !MayAccess(&c.Creds, a.file(), mask) {
		return unix.EACCES
	}
	return nil
}

// OpenFile is an open cgroup file: the real file, opened below the
// hierarchy root for the opener, whose credentials later writes use (as
// the kernel uses the opener's, not the writer's).
type OpenFile struct {
	t       *Tree
	h       *Hierarchy
	path    string
	fd      int
	opener  *Requester
	pids    bool // tasks, cgroup.procs or cgroup.threads
	threads bool
}

// Open opens file p with the access mode of flags.
func (t *Tree) Open(c *Requester, h *Hierarchy, p string, flags uint32) (*OpenFile, error) {
	if !FileVisible(c.Cgroup(h), p) {
		return nil, unix.ENOENT
	}
	var want Access
	switch int(flags) & unix.O_ACCMODE {
	case unix.O_RDONLY:
		want = R
	case unix.O_WRONLY:
		want = W
	case unix.O_RDWR:
		want = R | W
	default:
		return nil, unix.EINVAL
	}
	fd, err := openBeneath(h.fd, rel(p), int(flags)&unix.O_ACCMODE)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*OpenFile, error) {
		unix.Close(fd)
		return nil, err
	}
	if err := t.verify(c, h); err != nil {
		return fail(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fail(unix.EISDIR)
	}
	if !MayAccess(&c.Creds, attrOf(&st).file(), want) {
		return fail(unix.EACCES)
	}
	f := &OpenFile{t: t, h: h, path: p, fd: fd, opener: c}
	f.pids, f.threads = PidFile(p[strings.LastIndexByte(p, '/')+1:])
	return f, nil
}

// Close closes the real file.
func (f *OpenFile) Close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}

// maxRead bounds one file's content.
const maxRead = 16 << 20

// Read returns the whole content as reader sees it: pid files list only
// the pids visible in its pid namespace, as numbered there.
func (f *OpenFile) Read(reader *Requester) ([]byte, error) {
	var buf bytes.Buffer
	var off int64
	chunk := make([]byte, 64<<10)
	for {
		n, err := unix.Pread(f.fd, chunk, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		buf.Write(chunk[:n])
		off += int64(n)
		if buf.Len() > maxRead {
			return nil, unix.EFBIG
		}
	}
	if !f.pids {
		return buf.Bytes(), nil
	}
	pids, err := ParsePids(buf.Bytes())
	if err != nil {
		return nil, unix.EIO
	}
	if reader == nil {
		reader = f.opener
	}
	ns, err := f.t.openPidNS(reader.TID, reader.Status.NSpid)
	if err != nil {
		return nil, err
	}
	defer ns.close()
	out := make([]byte, 0, buf.Len())
	for _, p := range pids {
		if n, ok := ns.fromHost(p, f.threads); ok {
			out = strconv.AppendInt(out, int64(n), 10)
			out = append(out, '\n')
		}
	}
	return out, nil
}

// Write writes data to the real file for writer. A pid written to a pid
// file is taken in the writer's pid namespace, and moved only if the
// opener may move that task.
func (f *OpenFile) Write(writer *Requester, data []byte) (int, error) {
	if !f.pids {
		n, err := unix.Write(f.fd, data)
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	if writer == nil {
		return 0, unix.EPERM
	}
	n, ok := ParseWrittenPid(data)
	if !ok {
		return 0, unix.EINVAL
	}
	var host int
	if n == 0 {
		host = writer.TID
		if !f.threads {
			host = writer.Status.TGID
		}
	} else {
		ns, err := f.t.openPidNS(writer.TID, writer.Status.NSpid)
		if err != nil {
			return 0, err
		}
		host, err = ns.toHost(n, f.threads)
		ns.close()
		if err != nil {
			return 0, unix.ESRCH
		}
	}
	if err := f.mayMove(writer, host); err != nil {
		return 0, err
	}
	if _, err := unix.Write(f.fd, []byte(strconv.Itoa(host))); err != nil {
		return 0, err
	}
	return len(data), nil
}

// mayMove decides whether the opener may move host pid into this file's
// cgroup.
func (f *OpenFile) mayMove(writer *Requester, host int) error {
	st, err := readStatus(f.t.procFS, host)
	if err != nil {
		return unix.ESRCH
	}
	if f.h.Version == 1 {
		if host == writer.Status.TGID || st.TGID == writer.Status.TGID {
			return nil
		}
		if !MayMoveV1(&f.opener.Creds, f.opener.Status.TGID, Task{TGID: st.TGID, UID: st.UIDs[0], SUID: st.UIDs[2]}) {
			return unix.EACCES
		}
		return nil
	}
	// cgroup2: write access to cgroup.procs of the common ancestor of the
	// task's cgroup and this one (cgroup_procs_write_permission).
	cgs, err := f.t.res.Cgroups(host)
	if err != nil {
		return unix.ESRCH
	}
	src := cgroupIn(cgs, f.h)
	if src == "" {
		return unix.EACCES
	}
	ca := CommonAncestor(src, Parent(f.path))
	fd, err := openBeneath(f.h.fd, rel(Join(ca, "cgroup.procs")), unix.O_PATH)
	if err != nil {
		return unix.EACCES
	}
	defer unix.Close(fd)
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return unix.EACCES
	}
	if !MayAccess(&f.opener.Creds, attrOf(&fst).file(), W) {
		return unix.EACCES
	}
	return nil
}

// Mkdir creates cgroup name in dir, owned by the caller as the kernel
// makes it (directory and files get the caller's fsuid and fsgid unless
// both are 0), and returns its attributes.
func (t *Tree) Mkdir(c *Requester, h *Hierarchy, dir, name string, mode uint32) (Attr, error) {
	if !ValidName(name) {
		return Attr{}, unix.EINVAL
	}
	v, next := Classify(c.Cgroup(h), dir)
	switch v {
	case Hidden:
		return Attr{}, unix.ENOENT
	case Ancestor:
		if name == next {
			return Attr{}, unix.EEXIST
		}
		return Attr{}, unix.EPERM
	}
	pfd, pa, err := t.openDir(c, h, dir, unix.O_PATH)
	if err != nil {
		return Attr{}, err
	}
	defer unix.Close(pfd)
	if !MayAccess(&c.Creds, pa.file(), W|X) {
		return Attr{}, unix.EACCES
	}
	if err := unix.Mkdirat(pfd, name, mode&0o777); err != nil {
		return Attr{}, err
	}
	fd, err := openBeneath(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return Attr{}, err
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	if c.Creds.UID != 0 || c.Creds.GID != 0 {
		if err := unix.Fchownat(fd, "", int(c.Creds.UID), int(c.Creds.GID), unix.AT_EMPTY_PATH); err != nil {
			return Attr{}, err
		}
		names, err := d.Readdirnames(-1)
		if err != nil && !errors.Is(err, io.EOF) {
			return Attr{}, err
		}
		for _, n := range names {
			if err := unix.Fchownat(fd, n, int(c.Creds.UID), int(c.Creds.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return Attr{}, err
			}
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Attr{}, err
	}
	return attrOf(&st), nil
}

// Rmdir removes the empty cgroup name below dir. Never recursive: the
// kernel refuses a cgroup with tasks or children (EBUSY). The caller's own
// cgroup and its ancestors cannot be removed through the view.
func (t *Tree) Rmdir(c *Requester, h *Hierarchy, dir, name string) error {
	if !ValidName(name) {
		return unix.EINVAL
	}
	cg := c.Cgroup(h)
	switch v, _ := Classify(cg, Join(dir, name)); {
	case v == Hidden:
		return unix.ENOENT
	case v == Ancestor || Join(dir, name) == cg:
		return unix.EBUSY
	}
	pfd, pa, err := t.openDir(c, h, dir, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if !MayAccess(&c.Creds, pa.file(), W|X) {
		return unix.EACCES
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	return unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
}

// Change is a setattr request; nil fields are left alone.
type Change struct {
	Mode     *uint32
	UID, GID *uint32
	// Size is a truncation: a no-op on cgroup files (so that the shell's
	// ">" works) for a caller that may write the file.
	Size *uint64
	// Times asks to set access or modification times: a no-op for the
	// owner, as cgroupfs keeps no times worth setting.
	Times bool
}

// SetAttr applies ch to p (a directory when dir is set) for the caller.
func (t *Tree) SetAttr(c *Requester, h *Hierarchy, p string, dir bool, ch Change) (Attr, error) {
	if dir {
		if v, _ := Classify(c.Cgroup(h), p); v != Inside {
			if v == Hidden {
				return Attr{}, unix.ENOENT
			}
			return Attr{}, unix.EPERM
		}
	} else if !FileVisible(c.Cgroup(h), p) {
		return Attr{}, unix.ENOENT
	}
	flags := unix.O_PATH
	if dir {
		flags |= unix.O_DIRECTORY
	}
	fd, a, err := t.openVerified(c, h, p, flags)
	if err != nil {
		return Attr{}, err
	}
	defer unix.Close(fd)
	if a.Dir != dir {
		return Attr{}, unix.ENOENT
	}
	f := a.file()
	switch {
	case ch.Size != nil && (dir || !MayAccess(&c.Creds, f, W)):
		if dir {
			return Attr{}, unix.EISDIR
		}
		return Attr{}, unix.EACCES
	case ch.Times && !MayChmod(&c.Creds, f) && !MayAccess(&c.Creds, f, W):
		return Attr{}, unix.EPERM
	case ch.Mode != nil && !MayChmod(&c.Creds, f):
		return Attr{}, unix.EPERM
	case (ch.UID != nil || ch.GID != nil) && !MayChown(&c.Creds, f, ch.UID, ch.GID):
		return Attr{}, unix.EPERM
	}
	if ch.Mode != nil {
		if err := unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), *ch.Mode&0o7777, 0); err != nil {
			return Attr{}, err
		}
	}
	if ch.UID != nil || ch.GID != nil {
		uid, gid := -1, -1
		if ch.UID != nil {
			uid = int(*ch.UID)
		}
		if ch.GID != nil {
			gid = int(*ch.GID)
		}
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return Attr{}, err
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Attr{}, err
	}
	return attrOf(&st), nil
}

package fs

import (
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// The sys cpu tree mirrors the host's /sys/devices/system/cpu read-only, with
// these differences (docs/differences.md):
//   - online, present and possible list the caller's CPUs; offline is empty;
//   - only the caller's cpuN directories exist, and their online reads 1;
//   - nothing is writable, so no write ever reaches the host.

// classify says what the path rel below the cpu directory is: virtual
// (a row of the vfiles table), or a mirror of whatever the host has there.
func (fs *FS) classify(rel string) (nodeKind, vfiles.File, fuse.Status) {
	if f, ok := vfiles.Lookup(path.Join(vfiles.CPUDir, rel)); ok {
		return kindFile, f, fuse.OK
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(fs.sysCPU, rel), &st); err != nil {
		return 0, 0, errnoOf(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return kindSysDir, 0, fuse.OK
	case unix.S_IFREG:
		return kindSysFile, 0, fuse.OK
	case unix.S_IFLNK:
		return kindSysLink, 0, fuse.OK
	}
	return 0, 0, fuse.ENOENT
}

func (fs *FS) sysLookup(parent *node, name string, pid int) (*node, time.Duration, fuse.Status) {
	if name == "." || name == ".." || strings.Contains(name, "/") {
		return nil, 0, fuse.ENOENT
	}
	if isNodeTree(parent) {
		return fs.nodeLookup(parent, name, pid)
	}
	if isBlockTree(parent) {
		return fs.blockLookup(parent, name)
	}
	rel := path.Join(parent.rel, name)
	ttl := staticTTL
	if parent.rel == "" {
		if _, isCPU := cpuNumber(name); isCPU {
			view, err := fs.src.CPUView(pid)
			if err != nil {
				return nil, 0, errnoOf(err)
			}
			if !containsName(visibleCPUNames(view.Host, view.Renumber), name) {
				return nil, 0, fuse.ENOENT
			}
			// Whether cpuN exists differs by caller: never cache the name.
			ttl = 0
		}
	}
	kind, f, st := fs.classify(rel)
	if !st.Ok() {
		return nil, 0, st
	}
	return fs.tree.sysNode(parent.id, rel, kind, f), ttl, fuse.OK
}

func (fs *FS) sysList(dir *node, pid int) ([]fuse.DirEntry, fuse.Status) {
	if isNodeTree(dir) {
		return fs.nodeList(dir, pid)
	}
	if isBlockTree(dir) {
		return fs.blockList(dir)
	}
	entries := []fuse.DirEntry{
		{Name: ".", Ino: dir.id, Mode: syscall.S_IFDIR},
		{Name: "..", Ino: dir.parent, Mode: syscall.S_IFDIR},
	}
	des, err := os.ReadDir(filepath.Join(fs.sysCPU, dir.rel))
	if err != nil {
		return nil, errnoOf(err)
	}
	var visible []string
	if dir.rel == "" {
		view, err := fs.src.CPUView(pid)
		if err != nil {
			return nil, errnoOf(err)
		}
		visible = visibleCPUNames(view.Host, view.Renumber)
	}
	seen := map[string]bool{}
	addName := func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		rel := path.Join(dir.rel, name)
		kind, _, st := fs.classify(rel)
		if !st.Ok() {
			return
		}
		// The ID a lookup of the name gets, without a node: the kernel
		// does not count a listing as a lookup, so it would never forget
		// one made here.
		id := fs.tree.dynID(sysKey(rel))
		mode := uint32(syscall.S_IFREG)
		switch kind {
		case kindSysDir:
			mode = syscall.S_IFDIR
		case kindSysLink:
			mode = syscall.S_IFLNK
		}
		entries = append(entries, fuse.DirEntry{Name: name, Ino: id, Mode: mode})
	}
	for _, de := range des {
		name := de.Name()
		if dir.rel == "" {
			if _, isCPU := cpuNumber(name); isCPU && !containsName(visible, name) {
				continue
			}
		}
		addName(name)
	}
	// The virtual files, where the host has none.
	for _, name := range vfiles.Children(path.Join(vfiles.CPUDir, dir.rel)) {
		addName(name)
	}
	return entries, fuse.OK
}

func (fs *FS) sysAttr(n *node, out *fuse.Attr) fuse.Status {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(fs.sysRoot(n), n.rel), &st); err != nil {
		if n.kind == kindFile || n.kind == kindNodeFile || n.kind == kindBlockStat {
			st = unix.Stat_t{}
		} else {
			return errnoOf(err)
		}
	}
	switch n.kind {
	case kindSysDir:
		out.Mode = syscall.S_IFDIR | 0o555
		out.Nlink = 2
	case kindSysLink:
		out.Mode = syscall.S_IFLNK | 0o777
		out.Nlink = 1
		out.Size = uint64(st.Size)
	default:
		// Read bits only: nothing is writable through us.
		out.Mode = syscall.S_IFREG | uint32(st.Mode)&0o444
		out.Nlink = 1
		out.Size = uint64(st.Size)
	}
	return fuse.OK
}

// sysRead copies a host sysfs file. Reading at most one page matches sysfs,
// whose attribute files are one page at most.
func (fs *FS) sysRead(dst []byte, n *node) ([]byte, error) {
	f, err := os.Open(filepath.Join(fs.sysRoot(n), n.rel))
	if err != nil {
		return dst, err
	}
	defer f.Close()
	start := len(dst)
	dst = append(dst, make([]byte, 4096)...)
	m, err := f.Read(dst[start:])
	if err != nil && !errors.Is(err, io.EOF) {
		return dst[:start], err
	}
	return dst[:start+m], nil
}

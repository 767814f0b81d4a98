// Package floor is the benchmarks' floor: a trivial go-fuse raw server
// that serves each file's host text as it was when the server started, with
// the mount options and open flags lxcfs-go uses (DirectMountStrict,
// allow_other, FOPEN_DIRECT_IO|NOFLUSH, entry and attr timeouts of 0.5 s,
// no xattrs). Nobody serving through FUSE reads faster than it: what it
// costs is the FUSE round trips.
package floor

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lxcfs-go/lxcfs-go/daemon"
	"github.com/lxcfs-go/lxcfs-go/fs"
)

const floorTTL = 500 * time.Millisecond

type floorNode struct {
	id       uint64
	name     string
	dir      bool
	children map[string]*floorNode
	data     []byte
}

type floorFS struct {
	fuse.RawFileSystem
	nodes map[uint64]*floorNode
	start uint64
}

func newFloorFS(files map[string][]byte) *floorFS {
	f := &floorFS{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		nodes:         map[uint64]*floorNode{},
		start:         uint64(time.Now().Unix()),
	}
	root := &floorNode{id: fuse.FUSE_ROOT_ID, dir: true, children: map[string]*floorNode{}}
	f.nodes[root.id] = root
	next := uint64(2)
	for rel, data := range files {
		parent := root
		parts := strings.Split(rel, "/")
		for i, p := range parts {
			c, ok := parent.children[p]
			if !ok {
				c = &floorNode{id: next, name: p, dir: i < len(parts)-1}
				if c.dir {
					c.children = map[string]*floorNode{}
				}
				next++
				parent.children[p] = c
				f.nodes[c.id] = c
			}
			parent = c
		}
		parent.data = data
	}
	return f
}

func (f *floorFS) String() string { return "lxcfs-floor" }

func (f *floorFS) attr(n *floorNode, out *fuse.Attr) {
	out.Ino = n.id
	out.Atime, out.Mtime, out.Ctime = f.start, f.start, f.start
	out.Blksize = 1 << 20
	if n.dir {
		out.Mode = syscall.S_IFDIR | 0o555
		out.Nlink = 2
		return
	}
	out.Mode = syscall.S_IFREG | 0o444
	out.Nlink = 1
	out.Size = (uint64(len(n.data)) + 512 + 4095) / 4096 * 4096
}

func (f *floorFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	p := f.nodes[h.NodeId]
	if p == nil || !p.dir {
		return fuse.ENOENT
	}
	n := p.children[name]
	if n == nil {
		return fuse.ENOENT
	}
	f.attr(n, &out.Attr)
	out.NodeId = n.id
	out.Generation = 1
	out.SetEntryTimeout(floorTTL)
	out.SetAttrTimeout(floorTTL)
	return fuse.OK
}

func (f *floorFS) Forget(nodeid, nlookup uint64) {}

func (f *floorFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	n := f.nodes[in.NodeId]
	if n == nil {
		return fuse.ENOENT
	}
	f.attr(n, &out.Attr)
	out.SetTimeout(floorTTL)
	return fuse.OK
}

func (f *floorFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := f.nodes[in.NodeId]
	if n == nil {
		return fuse.ENOENT
	}
	if n.dir {
		return fuse.EISDIR
	}
	out.Fh = n.id
	out.OpenFlags = fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
	return fuse.OK
}

func (f *floorFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	n := f.nodes[in.NodeId]
	if n == nil || n.dir {
		return nil, fuse.EBADF
	}
	if in.Offset >= uint64(len(n.data)) {
		return fuse.ReadResultData(nil), fuse.OK
	}
	c := copy(buf, n.data[in.Offset:])
	return fuse.ReadResultData(buf[:c]), fuse.OK
}

func (f *floorFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {}

func (f *floorFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status { return fuse.OK }

func (f *floorFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := f.nodes[in.NodeId]
	if n == nil || !n.dir {
		return fuse.ENOTDIR
	}
	out.Fh = n.id
	return fuse.OK
}

func (f *floorFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	n := f.nodes[in.NodeId]
	if n == nil || !n.dir {
		return fuse.ENOTDIR
	}
	i := uint64(0)
	for name, c := range n.children {
		i++
		if i <= in.Offset {
			continue
		}
		mode := uint32(syscall.S_IFREG)
		if c.dir {
			mode = syscall.S_IFDIR
		}
		if !out.AddDirEntry(fuse.DirEntry{Name: name, Ino: c.id, Mode: mode, Off: i}) {
			break
		}
	}
	return fuse.OK
}

func (f *floorFS) ReleaseDir(in *fuse.ReleaseIn) {}

func (f *floorFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	out.Bsize, out.Frsize, out.NameLen = 4096, 4096, 255
	return fuse.OK
}

// ServeOurLoop mounts the same floor with lxcfs-go's own FUSE loop
// (daemon.Mount: our /dev/fuse reader, or our io_uring transport) instead of
// go-fuse's server, and serves until SIGTERM or SIGINT. uring is
// --fuse-uring's value: on for the io_uring floor, off for the classic one.
func ServeOurLoop(mnt string, files map[string][]byte, uring fs.URingMode) error {
	srv, err := daemon.Mount(mnt, newFloorFS(files), daemon.MountOptions{Server: fs.ServerOptions{URing: uring}})
	if err != nil {
		return fmt.Errorf("floor (our loop, --fuse-uring=%s): mount %s: %w", uring, mnt, err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	daemon.Unmount(mnt)
	srv.Settle(5 * time.Second)
	return nil
}

// Serve mounts the floor on mnt with files (path below the mount, such as
// "proc/meminfo", to content) and serves until SIGTERM or SIGINT.
func Serve(mnt string, files map[string][]byte) error {
	srv, err := fuse.NewServer(newFloorFS(files), mnt, &fuse.MountOptions{
		DirectMountStrict:  true,
		AllowOther:         true,
		FsName:             "lxcfs-floor",
		Name:               "lxcfs",
		DisableXAttrs:      true,
		DisableReadDirPlus: true,
		MaxWrite:           128 * 1024,
	})
	if err != nil {
		return fmt.Errorf("floor: mount %s: %w", mnt, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	if err := srv.Unmount(); err != nil {
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	}
	return nil
}

package fs

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// The sys block tree serves, for every host block device, the one file of
// /sys/block that sysstat's iostat reads instead of /proc/diskstats (unless
// run with -p ALL): sys/block/<disk>/stat and sys/block/<disk>/<part>/stat,
// each the device's line of the caller's proc/diskstats in the sysfs format
// (proc.BlockStat). Nothing else of /sys/block is here: the hooks bind each
// stat file over the container's sysfs file it stands for (the real path
// /sys/block/<disk> links to, which /sys/dev/block/M:m and
// /sys/class/block/<name> lead to as well), and the container keeps the
// rest of its sysfs.
//
// Every host device is listed for every caller, as in proc/diskstats; the
// nodes are keyed "sysblock:" plus the path below /sys/block.

const blockKeyPrefix = "sysblock:"

func isBlockTree(n *node) bool {
	return n.id == idSysBlock || strings.HasPrefix(n.key, blockKeyPrefix)
}

// blockClassify says what rel below the block directory is: a disk or
// partition directory, one of their stat files, or nothing served.
func (fs *FS) blockClassify(rel string) (nodeKind, fuse.Status) {
	parts := strings.Split(rel, "/")
	isFile := func(p string) bool {
		st, err := os.Stat(filepath.Join(fs.sysBlock, p))
		return err == nil && st.Mode().IsRegular()
	}
	isDev := func(p string) bool {
		st, err := os.Stat(filepath.Join(fs.sysBlock, p))
		return err == nil && st.IsDir() && isFile(path.Join(p, "dev"))
	}
	isPart := func(p string) bool { return isDev(p) && isFile(path.Join(p, "partition")) }
	ok := false
	kind := kindSysDir
	switch len(parts) {
	case 1:
		ok = isDev(rel)
	case 2:
		if parts[1] == "stat" {
			ok, kind = isDev(parts[0]) && isFile(rel), kindBlockStat
		} else {
			ok = isPart(rel)
		}
	case 3:
		ok, kind = parts[2] == "stat" && isPart(path.Join(parts[0], parts[1])) && isFile(rel), kindBlockStat
	}
	if !ok {
		return 0, fuse.ENOENT
	}
	return kind, fuse.OK
}

func (fs *FS) blockLookup(parent *node, name string) (*node, time.Duration, fuse.Status) {
	rel := path.Join(parent.rel, name)
	kind, st := fs.blockClassify(rel)
	if !st.Ok() {
		return nil, 0, st
	}
	// Devices come and go (loop, dm): names are kept as briefly as the
	// attributes.
	n := fs.tree.dynNode(&node{parent: parent.id, name: name, kind: kind, key: blockKeyPrefix + rel, rel: rel})
	return n, staticTTL, fuse.OK
}

func (fs *FS) blockList(dir *node) ([]fuse.DirEntry, fuse.Status) {
	entries := []fuse.DirEntry{
		{Name: ".", Ino: dir.id, Mode: syscall.S_IFDIR},
		{Name: "..", Ino: dir.parent, Mode: syscall.S_IFDIR},
	}
	des, err := os.ReadDir(filepath.Join(fs.sysBlock, dir.rel))
	if err != nil {
		return nil, errnoOf(err)
	}
	for _, de := range des {
		rel := path.Join(dir.rel, de.Name())
		kind, st := fs.blockClassify(rel)
		if !st.Ok() {
			continue
		}
		mode := uint32(syscall.S_IFREG)
		if kind == kindSysDir {
			mode = syscall.S_IFDIR
		}
		entries = append(entries, fuse.DirEntry{Name: de.Name(), Ino: fs.tree.dynID(blockKeyPrefix + rel), Mode: mode})
	}
	return entries, fuse.OK
}

// blockRender renders a device's stat file for the caller.
func (fs *FS) blockRender(dst []byte, n *node, pid int) ([]byte, error) {
	dir := path.Dir(n.rel)
	dev, err := os.ReadFile(filepath.Join(fs.sysBlock, dir, "dev"))
	if err != nil {
		return dst, err
	}
	major, minor, ok := proc.ParseDevNumber(dev)
	if !ok {
		return dst, errors.New("sysblock: bad dev file " + filepath.Join(fs.sysBlock, dir, "dev"))
	}
	host, err := os.ReadFile(filepath.Join(fs.sysBlock, n.rel))
	if err != nil {
		return dst, err
	}
	disk, err := fs.src.Render(nil, vfiles.Diskstats, pid)
	if err != nil {
		return dst, err
	}
	return proc.BlockStat(dst, disk, host, major, minor), nil
}

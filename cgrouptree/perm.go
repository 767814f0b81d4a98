package cgrouptree

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// Access is a set of permission bits asked for: R, W, X.
type Access uint32

const (
	X Access = 1
	W Access = 2
	R Access = 4
)

// Capabilities the decisions use (linux/capability.h).
const (
	capChown       = 0
	capDACOverride = 1
	capFowner      = 3
)

// IDRange is one line of a uid_map or gid_map: IDs Inside..Inside+Count-1
// of the namespace are Outside..Outside+Count-1 of the daemon's namespace.
type IDRange struct {
	Inside, Outside, Count uint32
}

// IDMap is a user namespace's uid_map or gid_map.
type IDMap []IDRange

// InitMap is the map of the initial user namespace: every ID is itself.
var InitMap = IDMap{{Inside: 0, Outside: 0, Count: 4294967295}}

// ParseIDMap parses /proc/<pid>/uid_map or gid_map.
func ParseIDMap(b []byte) (IDMap, error) {
	var m IDMap
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: id map line %q", hostcgroup.ErrParse, sc.Text())
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: id map line %q", hostcgroup.ErrParse, sc.Text())
			}
			v[i] = uint32(n)
		}
		m = append(m, IDRange{Inside: v[0], Outside: v[1], Count: v[2]})
	}
	return m, sc.Err()
}

// ToInside maps a daemon-side ID into the namespace; ok is false when it
// is not mapped there.
func (m IDMap) ToInside(id uint32) (uint32, bool) {
	for _, r := range m {
		if id >= r.Outside && uint64(id) < uint64(r.Outside)+uint64(r.Count) {
			return r.Inside + (id - r.Outside), true
		}
	}
	return 0, false
}

// Mapped reports whether the daemon-side ID id is mapped in the namespace.
func (m IDMap) Mapped(id uint32) bool {
	_, ok := m.ToInside(id)
	return ok
}

// Creds is who a caller is, in the daemon's (host) IDs.
type Creds struct {
	// UID and GID are the IDs the kernel checks: the fsuid and fsgid FUSE
	// sends (the real IDs for ACCESS).
	UID, GID uint32
	// EUID is the effective uid (cgroup v1 task moves compare it).
	EUID uint32
	// Groups are the supplementary groups.
	Groups []uint32
	// CapEff is the effective capability set in the caller's user
	// namespace.
	CapEff uint64
	// UIDMap and GIDMap are the maps of the caller's user namespace.
	UIDMap, GIDMap IDMap
}

func (c *Creds) inGroup(gid uint32) bool {
	return c.GID == gid || slices.Contains(c.Groups, gid)
}

// nsRoot reports whether the caller is uid 0 of its user namespace.
func (c *Creds) nsRoot() bool {
	u, ok := c.UIDMap.ToInside(c.UID)
	return ok && u == 0
}

// privilegedOver reports whether the caller holds capability cap over a
// file owned by uid:gid: it is root in its user namespace with cap
// effective, and the file's owner and group are mapped there
// (capable_wrt_inode_uidgid). The initial namespace maps everyone, so a
// host root with the capability is privileged over everything.
func (c *Creds) privilegedOver(cap uint, f File) bool {
	return c.nsRoot() && c.CapEff&(1<<cap) != 0 && c.UIDMap.Mapped(f.UID) && c.GIDMap.Mapped(f.GID)
}

// File is what a decision needs of a cgroupfs file or directory.
type File struct {
	Mode     uint32 // permission bits (and type bits, ignored)
	UID, GID uint32
	Dir      bool
}

// MayAccess reports whether the caller may access f for want, as
// generic_permission decides: the owner's bits if it owns f, else the
// group's if it is in f's group, else the others'; failing that, a caller
// privileged over f (CAP_DAC_OVERRIDE) may read and write anything and
// search directories. Whether a file can be written at all (kernfs refuses
// files without write bits even to root) is left to the open of the real
// file.
func MayAccess(c *Creds, f File, want Access) bool {
	var bits uint32
	switch {
	case c.UID == f.UID:
		bits = f.Mode >> 6 & 7
	case c.inGroup(f.GID):
		bits = f.Mode >> 3 & 7
	default:
		bits = f.Mode & 7
	}
	if Access(bits)&want == want {
		return true
	}
	if !c.privilegedOver(capDACOverride, f) {
		return false
	}
	// DAC override: everything but executing a file no one may execute.
	return want&X == 0 || f.Dir || f.Mode&0o111 != 0
}

// MayChmod reports whether the caller may change f's mode: its owner, or
// privileged over it with CAP_FOWNER (inode_owner_or_capable).
func MayChmod(c *Creds, f File) bool {
	return c.UID == f.UID || c.privilegedOver(capFowner, f)
}

// MayChown reports whether the caller may give f the owner uid and group
// gid (nil: unchanged), as chown_ok and chgrp_ok decide: only a caller
// privileged over f with CAP_CHOWN changes the owner; the owner may change
// the group to one it is in.
func MayChown(c *Creds, f File, uid, gid *uint32) bool {
	priv := c.privilegedOver(capChown, f)
	if uid != nil && *uid != f.UID && !priv {
		return false
	}
	if uid != nil && *uid == f.UID && c.UID != f.UID && !priv {
		return false
	}
	if gid != nil && *gid != f.GID && !priv && !(c.UID == f.UID && c.inGroup(*gid)) {
		return false
	}
	if gid != nil && *gid == f.GID && c.UID != f.UID && !priv {
		return false
	}
	return true
}

// Task is what a task move decision needs of the task moved.
type Task struct {
	TGID      int
	UID, SUID uint32 // real and saved uid
}

// MayMoveV1 reports whether a writer (opener of tasks or cgroup.procs) may
// move task on a cgroup v1 hierarchy, as __cgroup1_procs_write decides: it
// is the global root (effective uid 0 of the initial namespace), or its
// effective uid is the task's real or saved uid. A process may always move
// itself. Write permission on the destination file is checked at open.
func MayMoveV1(writer *Creds, writerTGID int, task Task) bool {
	return task.TGID == writerTGID || writer.EUID == 0 || writer.EUID == task.UID || writer.EUID == task.SUID
}

// CommonAncestor returns the deepest cgroup that is a or an ancestor of a
// and also b or an ancestor of b (clean absolute paths), by components.
func CommonAncestor(a, b string) string {
	for {
		if a == b || a == "/" {
			return a
		}
		if v, _ := Classify(a, b); v == Inside {
			return a
		}
		a = Parent(a)
	}
}

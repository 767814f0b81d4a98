package hostcgroup

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// LayoutKind says which cgroup versions a host mounts.
type LayoutKind int

const (
	// LayoutV1 has only v1 hierarchies (legacy).
	LayoutV1 LayoutKind = iota + 1
	// LayoutHybrid has v1 hierarchies and a cgroup2 mount, usually at
	// /sys/fs/cgroup/unified.
	LayoutHybrid
	// LayoutV2 has only the cgroup2 hierarchy (unified).
	LayoutV2
)

func (k LayoutKind) String() string {
	switch k {
	case LayoutV1:
		return "v1"
	case LayoutHybrid:
		return "hybrid"
	case LayoutV2:
		return "v2"
	}
	return "LayoutKind(" + strconv.Itoa(int(k)) + ")"
}

// Hierarchy is one cgroup hierarchy and the mount chosen to reach it.
type Hierarchy struct {
	// Version is 1 or 2.
	Version int
	// Controllers are, for v1, the controllers named in the super options
	// ("cpu", "cpuacct"; "name=systemd" for a named hierarchy); for v2,
	// the controllers in the root cgroup.controllers.
	Controllers []string
	// MountPoint is the mount point as mountinfo shows it.
	MountPoint string
	// Root is the mountinfo root field: the cgroup at the mount's root,
	// normally "/".
	Root string
}

// Layout is the set of cgroup hierarchies a host has.
type Layout struct {
	Kind LayoutKind
	// Hierarchies are the v1 hierarchies, one per distinct controller set,
	// in mountinfo order.
	Hierarchies []Hierarchy
	// Unified is the cgroup2 hierarchy; nil if none is mounted.
	Unified *Hierarchy
}

// ForController returns the hierarchy that holds controller name ("memory",
// "cpuacct", "name=systemd"): the v1 hierarchy that has it if there is one,
// else the unified hierarchy if its root cgroup.controllers lists it, else
// nil. A controller bound to a v1 hierarchy never shows up in the unified
// one, so on a hybrid host this chooses per controller.
func (l *Layout) ForController(name string) *Hierarchy {
	if l == nil {
		return nil
	}
	for i := range l.Hierarchies {
		if slices.Contains(l.Hierarchies[i].Controllers, name) {
			return &l.Hierarchies[i]
		}
	}
	if l.Unified != nil && slices.Contains(l.Unified.Controllers, name) {
		return l.Unified
	}
	return nil
}

// v1MountOptions are cgroup v1 super options that are not controllers
// (kernel/cgroup/cgroup-v1.c, cgroup1_parse_param).
var v1MountOptions = []string{
	"rw", "ro", "none", "all", "noprefix", "clone_children",
	"cpuset_v2_mode", "xattr", "favordynmods", "nofavordynmods",
}

// v1Controllers returns the controllers (and "name=X") among the super
// options of a v1 cgroup mount.
func v1Controllers(opts []string) []string {
	var out []string
	for _, o := range opts {
		if o == "" || slices.Contains(v1MountOptions, o) || strings.HasPrefix(o, "release_agent=") {
			continue
		}
		out = append(out, o)
	}
	return out
}

// DetectLayout finds the cgroup hierarchies among mounts. For each v1
// hierarchy (a distinct set of controllers) it keeps the first mount whose
// root is "/", or the first mount if none is; later mounts of the same
// hierarchy (bind mounts of sub-cgroups, copies propagated into containers)
// are ignored. For cgroup2 it prefers a "/"-rooted mount at /sys/fs/cgroup
// or /sys/fs/cgroup/unified, then any "/"-rooted one, then the first.
//
// readControllers reads the cgroup.controllers of the chosen cgroup2 mount
// point (as mountinfo names it); it may be nil, leaving Unified.Controllers
// empty. Its error is returned. With no cgroup mount at all the error wraps
// ErrNoController.
func DetectLayout(mounts []hostfs.Mount, readControllers func(mountPoint string) ([]string, error)) (*Layout, error) {
	l := &Layout{}
	keys := []string{} // sorted controller list per entry of l.Hierarchies
	var unified *hostfs.Mount
	unifiedScore := 0
	for i := range mounts {
		m := &mounts[i]
		switch m.FSType {
		case "cgroup":
			ctrls := v1Controllers(m.SuperOptions)
			if len(ctrls) == 0 {
				continue
			}
			sorted := slices.Clone(ctrls)
			slices.Sort(sorted)
			key := strings.Join(sorted, ",")
			h := Hierarchy{Version: 1, Controllers: ctrls, MountPoint: m.MountPoint, Root: m.Root}
			j := slices.Index(keys, key)
			switch {
			case j < 0:
				keys = append(keys, key)
				l.Hierarchies = append(l.Hierarchies, h)
			case l.Hierarchies[j].Root != "/" && m.Root == "/":
				l.Hierarchies[j] = h
			}
		case "cgroup2":
			score := 1
			if m.Root == "/" {
				score = 2
				if m.MountPoint == "/sys/fs/cgroup" || m.MountPoint == "/sys/fs/cgroup/unified" {
					score = 3
				}
			}
			if score > unifiedScore {
				unified, unifiedScore = m, score
			}
		}
	}
	if unified != nil {
		l.Unified = &Hierarchy{Version: 2, MountPoint: unified.MountPoint, Root: unified.Root}
		if readControllers != nil {
			ctrls, err := readControllers(unified.MountPoint)
			if err != nil {
				return nil, fmt.Errorf("cgroup2 controllers at %s: %w", unified.MountPoint, err)
			}
			l.Unified.Controllers = ctrls
		}
	}
	switch {
	case len(l.Hierarchies) > 0 && l.Unified != nil:
		l.Kind = LayoutHybrid
	case len(l.Hierarchies) > 0:
		l.Kind = LayoutV1
	case l.Unified != nil:
		l.Kind = LayoutV2
	default:
		return nil, fmt.Errorf("%w: no cgroup or cgroup2 mount in mountinfo", ErrNoController)
	}
	return l, nil
}

package hostcgroup

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

// PSIResources are the pressure files a container sees.
var PSIResources = []string{"cpu", "io", "memory"}

// PSIFile is the path of the <res>.pressure file ("cpu", "io", "memory") of
// cg's cgroup in the unified hierarchy: PSI is a cgroup2 feature, present
// in every cgroup2 cgroup whether or not the controller is enabled, so on
// hybrid hosts it comes from the cgroup2 mount (/sys/fs/cgroup/unified)
// while the rest comes from v1. false when there is no cgroup2 mount, the
// process has no unified path, or it is the root (the host's
// /proc/pressure files are the root's).
func (v *View) PSIFile(cg Cgroups, res string) (string, bool) {
	if v.layout.Unified == nil {
		return "", false
	}
	d, ok := v.dir(v.layout.Unified, cg, "")
	if !ok || d.path == "/" {
		return "", false
	}
	return d.file(res + ".pressure"), true
}

// PSI reads cg's <res>.pressure file. It returns nil, nil when there is
// none: no cgroup2 mount, the root cgroup, or a kernel without PSI
// (CONFIG_PSI=n, or psi=0 on the command line, where the files are absent;
// with cgroup PSI disabled by cgroup.pressure=0 reads fail with
// EOPNOTSUPP, also treated as absent).
func (v *View) PSI(cg Cgroups, res string) ([]byte, error) {
	name, ok := v.PSIFile(cg, res)
	if !ok {
		return nil, nil
	}
	b, err := v.host.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil, nil
	}
	return b, err
}

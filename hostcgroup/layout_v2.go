package hostcgroup

import (
	"os"
	"strings"
)

// readUnifiedControllers reads the controllers a cgroup2 mount's root
// offers (cgroup.controllers, space-separated).
func (v *View) readUnifiedControllers(mountPoint string) ([]string, error) {
	b, err := os.ReadFile(v.prefix + mountPoint + "/cgroup.controllers")
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return nil, nil
	}
	return f, nil
}

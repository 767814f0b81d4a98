package cgroupview

import "sync"

// cgroupsCache maps the text of a /proc/<pid>/cgroup file to what it parses
// to. The file is still read on every call, so a move shows at once; only
// the parse is saved. Keyed by the text rather than the pid, the cache
// holds one entry per distinct set of memberships (about one per
// container), not one per process ever seen: every short-lived `cat` in a
// container hits the entry its siblings made, and exited processes leave
// nothing behind.
//
// The Cgroups values are shared between callers and must not be modified.
type cgroupsCache struct {
	mu sync.RWMutex
	m  map[string]Cgroups
}

// maxCgroupsCache bounds the cache; past it, half the entries are dropped.
const maxCgroupsCache = 4096

func (c *cgroupsCache) lookup(raw []byte) (Cgroups, bool) {
	c.mu.RLock()
	cg, ok := c.m[string(raw)] // no allocation for the lookup
	c.mu.RUnlock()
	return cg, ok
}

func (c *cgroupsCache) store(raw []byte, cg Cgroups) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]Cgroups)
	}
	if len(c.m) >= maxCgroupsCache {
		n := len(c.m) / 2
		for k := range c.m {
			if n == 0 {
				break
			}
			delete(c.m, k)
			n--
		}
	}
	c.m[string(raw)] = cg
}

// len reports the number of entries (tests).
func (c *cgroupsCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

package cgroupview

import (
	"maps"
	"sync"
)

// cgroupsCache remembers the last /proc/<pid>/cgroup text of each pid and
// what it parsed to, so that an unchanged file (the common case: a process
// rarely moves) costs a comparison and a map copy rather than a parse. The
// file is still read on every call, so a move shows at once.
type cgroupsCache struct {
	mu sync.Mutex
	m  map[int]cgroupsEntry
}

type cgroupsEntry struct {
	raw string
	cg  Cgroups
}

// maxCgroupsCache bounds the cache; it starts over when full.
const maxCgroupsCache = 1 << 14

// lookup returns a copy of what raw parsed to for pid last time.
func (c *cgroupsCache) lookup(pid int, raw []byte) (Cgroups, bool) {
	c.mu.Lock()
	e, ok := c.m[pid]
	c.mu.Unlock()
	if !ok || e.raw != string(raw) {
		return Cgroups{}, false
	}
	cg := e.cg
	cg.V1 = maps.Clone(e.cg.V1)
	return cg, true
}

func (c *cgroupsCache) store(pid int, raw []byte, cg Cgroups) {
	e := cgroupsEntry{raw: string(raw), cg: cg}
	e.cg.V1 = maps.Clone(cg.V1)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCgroupsCache {
		c.m = make(map[int]cgroupsEntry)
	}
	c.m[pid] = e
	c.mu.Unlock()
}

package hostcgroup

import (
	"hash/maphash"
	"time"

	"github.com/lxcfs-go/lxcfs-go/internal/genmap"
)

// cgroupsCache maps the text of a /proc/<pid>/cgroup file to what it parses
// to. The file is still read on every call, so a move shows at once; only
// the parse is saved. Keyed by the text rather than the pid, the cache
// holds one entry per distinct set of memberships (about one per
// container), not one per process ever seen: every short-lived `cat` in a
// container hits the entry its siblings made, and exited processes leave
// nothing behind. Entries unused for a few minutes (removed cgroups) go.
//
// The Cgroups values are shared between callers and must not be modified.
type cgroupsCache struct {
	m *genmap.Map[uint64, cgroupsEntry] // by hash of the text
}

type cgroupsEntry struct {
	raw string
	cg  Cgroups
}

var cgroupsSeed = maphash.MakeSeed()

// cgroupsCacheMax bounds each generation of the cache.
const cgroupsCacheMax = 4096

// cgroupsCachePeriod is how long an unused entry stays (one to two periods).
const cgroupsCachePeriod = time.Minute

func newCgroupsCache() cgroupsCache {
	return cgroupsCache{m: genmap.New[uint64, cgroupsEntry](cgroupsCachePeriod, cgroupsCacheMax)}
}

func (c *cgroupsCache) lookup(raw []byte) (Cgroups, bool) {
	e, ok := c.m.Get(maphash.Bytes(cgroupsSeed, raw))
	if !ok || e.raw != string(raw) {
		return Cgroups{}, false
	}
	return e.cg, true
}

func (c *cgroupsCache) store(raw []byte, cg Cgroups) {
	c.m.Put(maphash.Bytes(cgroupsSeed, raw), cgroupsEntry{raw: string(raw), cg: cg})
}

// len reports the number of entries (tests).
func (c *cgroupsCache) len() int { return c.m.Len() }

package content

import (
	"math/bits"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/internal/genmap"
)

// DefaultSnapshotTTL is how long the daemon shares a container's cgroup
// snapshot between its readers (--snapshot-ttl), as long as the host's
// /proc/meminfo text is reused (meminfoTTL).
const DefaultSnapshotTTL = 100 * time.Millisecond

// snapCache shares each container's cgroup snapshot between its readers
// for up to ttl (Options.SnapshotTTL): a container whose readers read
// thousands of times a second reads its cgroup files about ten times a
// second. A limit change therefore shows within ttl.
//
// The key is the resolved caller without its thread: the process whose
// cgroups are read (Ref: pid and start time), the init of its pid
// namespace, and every cgroup path Ref was found in. Which is what keeps a
// container from ever seeing another's values:
//
//   - a process moved to another cgroup resolves to other paths (the
//     caller's /proc/<pid>/cgroup is read on every request): another key;
//   - a reused pid is another process, with another start time: another
//     key (start times are in clock ticks; a pid is reused only after the
//     kernel went round the whole pid space, not within one tick);
//   - a cgroup removed and made again under the same name: a cgroup with a
//     process in it cannot be removed, so the old entry's Ref had left it
//     or died first. A dead Ref never resolves again (a new process has
//     another start time), so its entry is never served; the new cgroup's
//     processes are other processes, with keys of their own. A Ref that
//     was moved out and back into the new cgroup is the same container
//     as before and sees its new values within ttl, as any limit change.
//
// This holds for readers in the daemon's pid namespace too, whose Ref is
// their own process (two host processes never share an entry) and for
// containers, whose Ref is their init.
//
// Each part of the snapshot (memory, CPU, usage, ...) carries the time it
// was read: a read takes what is fresh and reads only the parts it wants
// that are missing or older than ttl, so stat and meminfo readers of one
// container fill each other's parts. The snapshot handed out is never
// modified: a fill makes a new one (renderers copy what they change).
// One reader of a container fills at a time; the others wait for it and
// take what it read, so that N readers cost one snapshot per ttl.
type snapCache struct {
	ttl time.Duration
	now func() time.Time
	m   *genmap.Map[snapKey, *snapSlot]
	// fills counts snapshots read from the cgroup files (tests).
	fills atomic.Uint64
}

// snapKey is a resolved container; see snapCache.
type snapKey struct {
	ref, init hostcgroup.Process
	// v1, unified and hasUnified are every cgroup path of ref (keyOf).
	v1         unsafe.Pointer
	unified    string
	hasUnified bool
}

// snapSlot is one container's entry. cur is read without a lock; mu is
// held by the reader that fills it.
type snapSlot struct {
	mu  sync.Mutex
	cur atomic.Pointer[snapState]
}

// snapState is a snapshot and when each of its parts was read; it is never
// modified once stored.
type snapState struct {
	snap *hostcgroup.Snapshot
	// at is when each part (by bit number of its Want) was read; zero
	// when it was not. WantCPUQuota's is set only when CPU was read with
	// the quota.
	at [snapParts]time.Time
}

// snapParts is the number of Want bits (hostcgroup.WantIO is the last;
// TestSnapPartsCoverWants says so).
const snapParts = 7

// snapCacheMax bounds each generation of the cache; snapCachePeriod is
// how long an entry stays unused (one to two periods). An entry older than
// the ttl is of no use but as the slot its container's readers share.
const (
	snapCacheMax    = 4096
	snapCachePeriod = 10 * time.Second
)

// newSnapCache returns a cache with entries at most ttl old on the clock
// now; nil (no cache: a snapshot per read) for a ttl of 0 or less.
func newSnapCache(ttl time.Duration, now func() time.Time) *snapCache {
	if ttl <= 0 {
		return nil
	}
	m := genmap.New[snapKey, *snapSlot](snapCachePeriod, snapCacheMax)
	m.Now = now
	return &snapCache{ttl: ttl, now: now, m: m}
}

// snapshot returns the parts want of c's cgroups, read by read (View.Snapshot)
// at most the ttl ago. The result is shared: callers must not modify it.
func (sc *snapCache) snapshot(c *Caller, want hostcgroup.Want, read func(hostcgroup.Cgroups, hostcgroup.Want) *hostcgroup.Snapshot) *hostcgroup.Snapshot {
	if sc == nil || want == 0 {
		return read(c.Cgroups, want)
	}
	slot := sc.slot(keyOf(c))
	if st := slot.cur.Load(); sc.stale(st, want, sc.now()) == 0 {
		return st.snap
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	// Whoever held the lock may have read what we want; the clock is read
	// again after the wait, and before the files, so that a part's time is
	// never later than when it was read.
	now := sc.now()
	st := slot.cur.Load()
	stale := sc.stale(st, want, now)
	if stale == 0 {
		return st.snap
	}
	if stale&(hostcgroup.WantCPU|hostcgroup.WantCPUQuota) != 0 {
		// CPU is one part, read with or without the quota.
		stale |= want & (hostcgroup.WantCPU | hostcgroup.WantCPUQuota)
	}
	sc.fills.Add(1)
	next := st.merge(read(c.Cgroups, stale), stale, now)
	slot.cur.Store(next)
	return next.snap
}

// slot is the entry of k, made if there is none.
func (sc *snapCache) slot(k snapKey) *snapSlot {
	if s, ok := sc.m.Get(k); ok {
		return s
	}
	var got *snapSlot
	sc.m.Update(k, func(s *snapSlot, ok bool) *snapSlot {
		if !ok {
			s = new(snapSlot)
		}
		got = s
		return s
	})
	return got
}

// stale lists the parts of want that st lacks or read ttl or longer ago
// (or after now: a clock that went back).
func (sc *snapCache) stale(st *snapState, want hostcgroup.Want, now time.Time) hostcgroup.Want {
	if st == nil {
		return want
	}
	var out hostcgroup.Want
	for i := range snapParts {
		bit := hostcgroup.Want(1) << i
		if want&bit == 0 {
			continue
		}
		at := st.at[i]
		if at.IsZero() || now.Sub(at) >= sc.ttl || now.Before(at) {
			out |= bit
		}
	}
	return out
}

// merge returns st with the parts got of fresh, read at now.
func (st *snapState) merge(fresh *hostcgroup.Snapshot, got hostcgroup.Want, now time.Time) *snapState {
	next := &snapState{snap: &hostcgroup.Snapshot{}}
	if st != nil {
		*next = *st
		s := *st.snap
		next.snap = &s
	}
	for i := range snapParts {
		bit := hostcgroup.Want(1) << i
		if got&bit != 0 {
			next.at[i] = now
		}
	}
	if got&hostcgroup.WantCPUQuota == 0 && got&hostcgroup.WantCPU != 0 {
		next.at[bits.TrailingZeros(uint(hostcgroup.WantCPUQuota))] = time.Time{} // read without it
	}
	s := next.snap
	if got&hostcgroup.WantMemory != 0 {
		s.Memory = fresh.Memory
	}
	if got&(hostcgroup.WantCPU|hostcgroup.WantCPUQuota) != 0 {
		s.CPU = fresh.CPU
	}
	if got&hostcgroup.WantUsage != 0 {
		s.Usage = fresh.Usage
	}
	if got&hostcgroup.WantSlabinfo != 0 {
		s.Slabinfo = fresh.Slabinfo
	}
	if got&hostcgroup.WantTasks != 0 {
		s.Tasks = fresh.Tasks
	}
	if got&hostcgroup.WantIO != 0 {
		s.IO = fresh.IO
	}
	return next
}

// keyOf is c's key. The v1 paths are keyed by their map rather than its
// content: View.Cgroups hands out one map per distinct /proc/<pid>/cgroup
// text (hostcgroup's cgroupsCache) and never changes a map it handed out,
// so equal maps mean equal paths; the key holds the map, so its address
// is not reused while the entry lives. Equal paths in two maps (the
// cgroups cache forgot one) only cost a fill.
func keyOf(c *Caller) snapKey {
	return snapKey{ref: c.Ref, init: c.Init, v1: reflect.ValueOf(c.Cgroups.V1).UnsafePointer(),
		unified: c.Cgroups.Unified, hasUnified: c.Cgroups.HasUnified}
}

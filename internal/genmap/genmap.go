// Package genmap is a map that forgets what nobody used lately.
//
// The daemon's caches are keyed by things that come and go: pids, thread
// ids, the text of /proc/<pid>/cgroup, cgroup paths. A cache that only
// evicts when full grows to its bound on a busy host and stays there,
// holding entries for processes and cgroups long gone. A Map keeps two
// generations instead: entries are put in the current one; every period
// (or when the current one reaches its bound) the current generation
// becomes the old one and the old one is dropped; a hit in the old
// generation moves the entry back to the current one. An entry in use
// stays; one unused for two periods is gone. The size follows what was
// used in the last one to two periods, never more than twice the bound.
package genmap

import (
	"sync"
	"time"
)

// Map is a two-generation map, safe for concurrent use.
type Map[K comparable, V any] struct {
	mu       sync.Mutex
	cur, old map[K]V
	rotated  time.Time
	period   time.Duration
	max      int
	gets     uint32 // the clock is looked at every getCheckEvery gets

	// Now is the clock (tests replace it); nil means time.Now.
	Now func() time.Time
}

// New returns a map whose entries live one to two periods after their last
// use, with at most max entries per generation.
func New[K comparable, V any](period time.Duration, max int) *Map[K, V] {
	return &Map[K, V]{period: period, max: max}
}

func (m *Map[K, V]) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// getCheckEvery is how many gets pass between looks at the clock (a clock
// read is a system call on some virtual machines' clock sources); every
// put of a new key looks at it too.
var getCheckEvery uint32 = 64

// Get returns the value for k.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gets++; (m.gets-1)%getCheckEvery == 0 {
		m.rotate(m.now(), false)
	}
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.old[k]
	if ok {
		delete(m.old, k)
		m.putLocked(k, v)
	}
	return v, ok
}

// Put sets the value for k.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.old, k)
	m.putLocked(k, v)
}

// Update calls fn with the value for k (and whether there is one) and
// stores what it returns, atomically.
func (m *Map[K, V]) Update(k K, fn func(V, bool) V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.cur[k]
	if !ok {
		if v, ok = m.old[k]; ok {
			delete(m.old, k)
		}
	}
	m.putLocked(k, fn(v, ok))
}

// Delete removes k.
func (m *Map[K, V]) Delete(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cur, k)
	delete(m.old, k)
}

func (m *Map[K, V]) putLocked(k K, v V) {
	if _, ok := m.cur[k]; !ok || m.cur == nil {
		m.rotate(m.now(), len(m.cur) >= m.max)
	}
	m.cur[k] = v
}

// rotate starts a new generation when the period is over (or the clock
// went back), or when full is set.
func (m *Map[K, V]) rotate(now time.Time, full bool) {
	if m.cur == nil {
		m.cur, m.rotated = make(map[K]V), now
		return
	}
	if !full && now.Sub(m.rotated) < m.period && !now.Before(m.rotated) {
		return
	}
	if now.Sub(m.rotated) >= 2*m.period {
		m.old = nil // nothing in either generation was used lately
	} else {
		m.old = m.cur
	}
	m.cur, m.rotated = make(map[K]V, len(m.cur)/2), now
}

// Len is the number of entries in both generations.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur) + len(m.old)
}

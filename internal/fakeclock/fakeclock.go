// Package fakeclock is a clock for tests that moves only when told, to give
// to the Now option of the packages whose caches and histories have
// lifetimes (hostfs, content, loadavg ...): a test steps over a lifetime
// instead of sleeping through it.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads start until moved.
func New(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time; pass the method value as a Now option.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d (backwards when d < 0).
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Package loadavg keeps per-container load averages: the kernel's
// fixed-point exponential averages over 1, 5 and 15 minutes, fed every 5 s
// with the number of runnable and uninterruptible threads of each tracked
// container's cgroup subtree.
//
// # What it owns
//
// The history (three averages per container) and the choice of what to
// sample. A container is tracked from its first read of loadavg and dropped
// when it has not read for Options.Idle or its cgroup has gone, so the cost
// of a sample grows with the containers that read loadavg, not with every
// thread on the host. Counting is done by a Counter (hostcgroup's
// LoadCounter: taskstats netlink on v1, kept-open pread fds on v2).
//
// # Clock and locking
//
// The sampler has no clock of its own: Tick takes the time, and Read
// takes it from Options.Now, so tests drive it step by step. One mutex
// guards the table; counting happens outside it, so readers never wait for
// a sample.
package loadavg

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// The kernel's constants (include/linux/sched/loadavg.h).
const (
	FShift = 11          // bits of precision
	Fixed1 = 1 << FShift // 1.0 in fixed point
	Exp1   = 1884        // 1/exp(5sec/1min) in fixed point
	Exp5   = 2014        // 1/exp(5sec/5min)
	Exp15  = 2037        // 1/exp(5sec/15min)
)

// Interval is the kernel's LOAD_FREQ: one sample every 5 s.
const Interval = 5 * time.Second

// CalcLoad is the kernel's calc_load: one step of an exponential average
// of active (in fixed point) with decay exp.
func CalcLoad(load, exp, active uint64) uint64 {
	n := load*exp + active*(Fixed1-exp)
	if active >= load {
		n += Fixed1 - 1
	}
	return n / Fixed1
}

// Averages are the 1, 5 and 15 minute averages in fixed point (FShift).
type Averages [3]uint64

// Step folds one sample of active threads into a.
func (a *Averages) Step(active int) {
	x := uint64(max(active, 0)) * Fixed1
	a[0] = CalcLoad(a[0], Exp1, x)
	a[1] = CalcLoad(a[1], Exp5, x)
	a[2] = CalcLoad(a[2], Exp15, x)
}

// Value is what a container's loadavg shows.
type Value struct {
	Avg Averages
	// Running and Total are the "running/total" field: threads in state R
	// and all threads of the subtree at the last sample.
	Running, Total int
	// LastPID is the largest thread id at the last sample.
	LastPID int
}

// Counter counts the tasks of a cgroup subtree; *hostcgroup.LoadCounter is
// the real one. Calls come from one goroutine at a time.
type Counter interface {
	Count(cg hostcgroup.LoadCgroup) (hostcgroup.LoadCount, error)
	Forget(cg hostcgroup.LoadCgroup)
}

// Options configures a Sampler.
type Options struct {
	Counter Counter
	// Now is the clock of Read; time.Now when nil.
	Now func() time.Time
	// Idle is how long a container stays tracked without reading loadavg;
	// 10 minutes when 0.
	Idle time.Duration
	// Max bounds the tracked containers; a read beyond it gets a count
	// without history. 100000 when 0.
	Max    int
	Logger *slog.Logger
}

// Sampler tracks the containers that read loadavg. It is safe for
// concurrent use.
type Sampler struct {
	opts   Options
	onTick atomic.Pointer[func(time.Duration)]
	// countMu serializes use of the Counter (Tick and first reads).
	countMu sync.Mutex
	mu      sync.Mutex
	m       map[string]*entry
}

type entry struct {
	cg       hostcgroup.LoadCgroup
	val      Value
	lastRead time.Time
}

// New returns a Sampler; it samples when Tick is called, or every Interval
// once Run is started.
func New(opts Options) *Sampler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Idle <= 0 {
		opts.Idle = 10 * time.Minute
	}
	if opts.Max <= 0 {
		opts.Max = 100000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sampler{opts: opts, m: map[string]*entry{}}
}

// Read returns the load of cg and marks it as read. The first read of a
// container counts its tasks at once (so running/total are right) and
// starts its averages at 0, as the kernel's do at boot; they converge from
// the next sample on. lxcfs's first read is "0.00 0.00 0.00 0/1 <pid>".
func (s *Sampler) Read(cg hostcgroup.LoadCgroup) (Value, error) {
	now := s.opts.Now()
	s.mu.Lock()
	if e, ok := s.m[cg.Dir]; ok {
		e.lastRead = now
		v := e.val
		s.mu.Unlock()
		return v, nil
	}
	full := len(s.m) >= s.opts.Max
	s.mu.Unlock()

	s.countMu.Lock()
	n, err := s.opts.Counter.Count(cg)
	if full {
		s.opts.Counter.Forget(cg)
	}
	s.countMu.Unlock()
	if err != nil {
		return Value{}, err
	}
	v := Value{Running: n.Running, Total: n.Total, LastPID: n.LastPID}
	if full {
		return v, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[cg.Dir]; ok { // raced with another first read
		e.lastRead = now
		return e.val, nil
	}
	s.m[cg.Dir] = &entry{cg: cg, val: v, lastRead: now}
	return v, nil
}

// Len is the number of tracked containers.
func (s *Sampler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Tick takes one sample of every tracked container at time now: containers
// that have not read since now-Idle and those whose cgroup has gone are
// dropped; the others' averages take one step.
func (s *Sampler) Tick(now time.Time) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	if obs := s.onTick.Load(); obs != nil {
		start := time.Now()
		defer func() { (*obs)(time.Since(start)) }()
	}
	s.mu.Lock()
	todo := make([]*entry, 0, len(s.m))
	for k, e := range s.m {
		if now.Sub(e.lastRead) > s.opts.Idle {
			delete(s.m, k)
			s.opts.Counter.Forget(e.cg)
			continue
		}
		todo = append(todo, e)
	}
	s.mu.Unlock()

	for _, e := range todo {
		n, err := s.opts.Counter.Count(e.cg)
		s.mu.Lock()
		switch {
		case errors.Is(err, hostcgroup.ErrCgroupGone):
			delete(s.m, e.cg.Dir)
			s.opts.Counter.Forget(e.cg)
		case err != nil:
			// Keep the history; this sample is skipped.
			s.opts.Logger.Debug("loadavg sample failed", "cgroup", e.cg.Dir, "err", err)
		default:
			e.val.Avg.Step(n.Active())
			e.val.Running, e.val.Total, e.val.LastPID = n.Running, n.Total, n.LastPID
		}
		s.mu.Unlock()
	}
}

// ObserveTicks has f called with the duration of every Tick (for metrics).
func (s *Sampler) ObserveTicks(f func(time.Duration)) { s.onTick.Store(&f) }

// Run calls Tick every Interval until ctx is done.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Tick(now)
		}
	}
}

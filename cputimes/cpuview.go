// Package cputimes keeps the per-container CPU times that /proc/stat shows
// under --enable-cfs: one line per visible CPU (ceil of the CFS quota,
// capped by the effective cpuset), synthesized from the cgroup's CPU usage.
//
// # What it owns
//
// The history: per container, the usage seen at the last read and the
// times shown per visible CPU. Each read adds what happened since the last
// one:
//
//	elapsed = wall time since the last read, in clock ticks
//	du, ds  = growth of the cgroup's user and system time (v1 cpuacct.usage_all
//	          summed, v2 cpu.stat user_usec, system_usec), in ticks
//	didle   = elapsed x capacity - du - ds, floored at 0
//
// where capacity is the CFS quota in CPUs when it is below the number of
// visible CPUs (a quota of 0.5 CPU shows one CPU), and the number of
// visible CPUs otherwise. A container that runs at its quota therefore
// shows no idle time: its one CPU at 0.5 is 100% busy, which is what it
// can get, not 50% idle, which it cannot. user and system stay the time
// the cgroup used, so their rate is the CPUs it consumes (0.5), and a CPU
// line's total advances by capacity/CPUs ticks per tick rather than one.
//
// and spreads du, ds and didle evenly over the visible CPUs (the remainder
// tick going round-robin). Only additions ever happen, so every counter
// shown is monotonic:
//
//   - quota or cpuset changes that remove CPUs fold the removed CPUs'
//     counters into the last remaining one, so the aggregate "cpu" line
//     never goes down; added CPUs start at 0;
//   - a usage counter that goes down (cgroup removed and re-created under
//     the same path, or cpuacct.usage reset) counts the new value as
//     growth since the reset;
//   - idle never goes down (lxcfs 5.0.3 subtracts a partial-CPU correction
//     from it).
//
// A container's first read starts from its usage spread over its CPUs and
// idle = age x capacity - usage (floored at 0), rather than lxcfs's zeros.
// Containers that have not read for Options.Idle are forgotten.
//
// The clock is injected (Options.Now), so tests step through time.
package cputimes

import (
	"sync"
	"time"

	"github.com/lxcfs-go/lxcfs-go/proc"
)

// Options configures a History.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Idle is how long an unread container's history is kept; 10 minutes
	// when 0.
	Idle time.Duration
	// ClockTicks is USER_HZ; 100 when 0.
	ClockTicks uint64
}

// Input is one read's view of a container.
type Input struct {
	// Key names the container's usage cgroup.
	Key string
	// CPUs is the number of visible CPUs (len(proc.CPUView.Host)).
	CPUs int
	// UserTicks and SystemTicks are the cgroup's cumulative CPU time.
	UserTicks, SystemTicks uint64
	// AgeTicks is the container's age (its init's), for the first read's
	// idle.
	AgeTicks uint64
	// QuotaCPUs is the CFS quota in CPUs; 0 for none. Below CPUs, it is
	// the capacity idle is counted against.
	QuotaCPUs float64
}

// capacity is the CPU time ticks of wall time give the container: ticks x
// min(quota, CPUs), rounded down.
func (in Input) capacity(ticks uint64) uint64 {
	if in.QuotaCPUs > 0 && in.QuotaCPUs < float64(in.CPUs) {
		return uint64(float64(ticks) * in.QuotaCPUs)
	}
	return ticks * uint64(in.CPUs)
}

// History holds every tracked container's times. It is safe for concurrent
// use.
type History struct {
	opts      Options
	mu        sync.Mutex
	m         map[string]*state
	lastPrune time.Time
}

type state struct {
	last      time.Time // time up to which elapsed ticks were counted
	user, sys uint64    // usage at the last read
	per       []proc.CPUTimes
	rr        int // next CPU to get a remainder tick
	lastRead  time.Time
}

// New returns an empty History.
func New(opts Options) *History {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Idle <= 0 {
		opts.Idle = 10 * time.Minute
	}
	if opts.ClockTicks == 0 {
		opts.ClockTicks = 100
	}
	return &History{opts: opts, m: map[string]*state{}}
}

// Len is the number of tracked containers.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

// Times advances in.Key's history to now and returns its per-CPU times
// (in.CPUs entries; nil when in.CPUs <= 0).
func (h *History) Times(in Input) []proc.CPUTimes {
	if in.CPUs <= 0 {
		return nil
	}
	now := h.opts.Now()
	tick := time.Second / time.Duration(h.opts.ClockTicks)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.prune(now)
	s, ok := h.m[in.Key]
	if !ok {
		s = &state{last: now, user: in.UserTicks, sys: in.SystemTicks, per: make([]proc.CPUTimes, in.CPUs)}
		used := in.UserTicks + in.SystemTicks
		idle := uint64(0)
		if capacity := in.capacity(in.AgeTicks); capacity > used {
			idle = capacity - used
		}
		s.spread(in.UserTicks, in.SystemTicks, idle)
		h.m[in.Key] = s
	} else {
		du, ds := in.UserTicks-s.user, in.SystemTicks-s.sys
		if in.UserTicks < s.user || in.SystemTicks < s.sys {
			du, ds = in.UserTicks, in.SystemTicks // counter reset
		}
		s.user, s.sys = in.UserTicks, in.SystemTicks
		var elapsed uint64
		if d := now.Sub(s.last); d > 0 {
			elapsed = uint64(d / tick)
			s.last = s.last.Add(time.Duration(elapsed) * tick)
		} else if d < 0 {
			s.last = now // the clock went back: count from here
		}
		s.resize(in.CPUs)
		idle := uint64(0)
		if capacity := in.capacity(elapsed); capacity > du+ds {
			idle = capacity - du - ds
		}
		s.spread(du, ds, idle)
	}
	s.lastRead = now
	out := make([]proc.CPUTimes, len(s.per))
	copy(out, s.per)
	return out
}

// resize changes the number of visible CPUs, folding removed CPUs into the
// last kept one.
func (s *state) resize(n int) {
	switch {
	case n < len(s.per):
		last := &s.per[n-1]
		for _, t := range s.per[n:] {
			last.User += t.User
			last.System += t.System
			last.Idle += t.Idle
		}
		s.per = s.per[:n:n]
	case n > len(s.per):
		s.per = append(s.per, make([]proc.CPUTimes, n-len(s.per))...)
	}
	if s.rr >= n {
		s.rr = 0
	}
}

// spread adds user, system and idle ticks evenly over the CPUs.
func (s *state) spread(user, system, idle uint64) {
	n := uint64(len(s.per))
	add := func(total uint64, field func(*proc.CPUTimes) *uint64) {
		q, r := total/n, total%n
		for i := range s.per {
			*field(&s.per[i]) += q
		}
		for ; r > 0; r-- {
			*field(&s.per[s.rr]) += 1
			s.rr = (s.rr + 1) % len(s.per)
		}
	}
	add(user, func(t *proc.CPUTimes) *uint64 { return &t.User })
	add(system, func(t *proc.CPUTimes) *uint64 { return &t.System })
	add(idle, func(t *proc.CPUTimes) *uint64 { return &t.Idle })
}

// prune forgets containers unread for Idle, at most once per Idle/4.
func (h *History) prune(now time.Time) {
	if now.Sub(h.lastPrune) < h.opts.Idle/4 {
		return
	}
	h.lastPrune = now
	for k, s := range h.m {
		if now.Sub(s.lastRead) > h.opts.Idle {
			delete(h.m, k)
		}
	}
}

package cputimes

import (
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/proc"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func sum(ts []proc.CPUTimes) proc.CPUTimes {
	var s proc.CPUTimes
	for _, t := range ts {
		s.User += t.User
		s.System += t.System
		s.Idle += t.Idle
	}
	return s
}

// step is one read: the time advances by dt, the cgroup's usage is
// user/sys ticks, and the container sees cpus CPUs.
type step struct {
	dt        time.Duration
	user, sys uint64
	cpus      int
}

// checkMonotonic replays steps and checks every counter shown never goes
// down: the aggregate always, and each CPU that stays visible.
func checkMonotonic(t *testing.T, steps []step) [][]proc.CPUTimes {
	t.Helper()
	clk := &clock{t: time.Unix(10000, 0)}
	h := New(Options{Now: clk.now})
	var prev []proc.CPUTimes
	var all [][]proc.CPUTimes
	for i, s := range steps {
		clk.t = clk.t.Add(s.dt)
		got := h.Times(Input{Key: "/c", CPUs: s.cpus, UserTicks: s.user, SystemTicks: s.sys, AgeTicks: 1000})
		if len(got) != s.cpus {
			t.Fatalf("step %d: %d CPUs, want %d", i, len(got), s.cpus)
		}
		if prev != nil {
			a, b := sum(prev), sum(got)
			if b.User < a.User || b.System < a.System || b.Idle < a.Idle {
				t.Errorf("step %d: aggregate went down: %+v -> %+v", i, a, b)
			}
			for k := range min(len(prev), len(got)) {
				p, g := prev[k], got[k]
				if g.User < p.User || g.System < p.System || g.Idle < p.Idle {
					t.Errorf("step %d: cpu%d went down: %+v -> %+v", i, k, p, g)
				}
			}
		}
		prev = got
		all = append(all, got)
	}
	return all
}

func TestFirstReadAndAccounting(t *testing.T) {
	all := checkMonotonic(t, []step{
		{0, 300, 100, 2},           // age 1000 ticks x 2 CPUs = 2000; 400 used
		{time.Second, 350, 110, 2}, // 100 ticks x 2 = 200 capacity, 60 used
	})
	if s := sum(all[0]); s != (proc.CPUTimes{User: 300, System: 100, Idle: 1600}) {
		t.Errorf("first read = %+v", s)
	}
	if s := sum(all[1]); s != (proc.CPUTimes{User: 350, System: 110, Idle: 1740}) {
		t.Errorf("second read = %+v", s)
	}
	// Spread evenly.
	if a, b := all[1][0], all[1][1]; a.User+a.System+a.Idle > b.User+b.System+b.Idle+3 || b.User+b.System+b.Idle > a.User+a.System+a.Idle+3 {
		t.Errorf("uneven spread %+v %+v", a, b)
	}
}

func TestMonotonicAcrossQuotaAndCPUSetChanges(t *testing.T) {
	checkMonotonic(t, []step{
		{0, 0, 0, 4},
		{time.Second, 100, 10, 4},
		{time.Second, 250, 20, 1}, // quota cut to one CPU
		{time.Second, 300, 30, 1},
		{time.Second, 400, 40, 3}, // cpuset grows
		{time.Second, 410, 41, 2},
		{2 * time.Second, 900, 60, 2}, // more usage than capacity: idle adds 0
	})
}

func TestMonotonicAcrossCounterReset(t *testing.T) {
	all := checkMonotonic(t, []step{
		{0, 1000, 500, 2},
		{time.Second, 1100, 520, 2},
		{time.Second, 30, 5, 2}, // cgroup re-created: usage restarts
		{time.Second, 80, 10, 2},
	})
	// After the reset, growth counts from 0: +30/+5, then +50/+5.
	if d := sum(all[3]).User - sum(all[1]).User; d != 80 {
		t.Errorf("user growth across reset = %d, want 80", d)
	}
}

func TestClockBackAndSubTick(t *testing.T) {
	all := checkMonotonic(t, []step{
		{0, 0, 0, 1},
		{-time.Second, 0, 0, 1},
		{5 * time.Millisecond, 0, 0, 1},
		{5 * time.Millisecond, 0, 0, 1}, // two half ticks make one
	})
	if got := sum(all[3]).Idle - sum(all[1]).Idle; got != 1 {
		t.Errorf("idle over two half ticks = %d, want 1", got)
	}
}

func TestPrune(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	h := New(Options{Now: clk.now, Idle: time.Minute})
	h.Times(Input{Key: "a", CPUs: 1})
	h.Times(Input{Key: "b", CPUs: 1})
	clk.t = clk.t.Add(50 * time.Second)
	h.Times(Input{Key: "a", CPUs: 1})
	clk.t = clk.t.Add(50 * time.Second)
	h.Times(Input{Key: "a", CPUs: 1})
	if h.Len() != 1 {
		t.Errorf("tracked %d, want 1 (b idle for 100 s)", h.Len())
	}
	if h.Times(Input{Key: "c", CPUs: 0}) != nil {
		t.Error("0 CPUs gave times")
	}
}

// TestFractionalQuotaIsBusy: a container with a quota of 0.5 CPU sees one
// CPU; running at its quota, that CPU shows no idle time (busy at what it
// can get), and user stays the CPU time it used. With a quota of 1.5 on two
// CPUs, 1.5 CPUs of use is fully busy too; with no quota, idle is the rest
// of the visible CPUs.
func TestFractionalQuotaIsBusy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cpus     int
		quota    float64
		use      uint64 // ticks used per second of wall time
		wantIdle uint64 // idle ticks added per second
	}{
		{"0.5 CPU at its quota", 1, 0.5, 50, 0},
		{"0.5 CPU at half its quota", 1, 0.5, 25, 25},
		{"1.5 CPUs at the quota", 2, 1.5, 150, 0},
		{"1.5 CPUs idle", 2, 1.5, 0, 150},
		{"no quota", 2, 0, 50, 150},
		{"quota above the CPUs", 2, 3, 50, 150},
	} {
		clk := &clock{t: time.Unix(10000, 0)}
		h := New(Options{Now: clk.now})
		in := Input{Key: "/c", CPUs: tc.cpus, QuotaCPUs: tc.quota, AgeTicks: 1000}
		first := sum(h.Times(in))
		clk.t = clk.t.Add(10 * time.Second)
		in.UserTicks = 10 * tc.use
		after := sum(h.Times(in))
		if got := after.Idle - first.Idle; got != 10*tc.wantIdle {
			t.Errorf("%s: %d idle ticks in 10 s, want %d", tc.name, got, 10*tc.wantIdle)
		}
		if got := after.User - first.User; got != 10*tc.use {
			t.Errorf("%s: %d user ticks in 10 s, want the %d used", tc.name, got, 10*tc.use)
		}
		// The first read's idle is the age at the same capacity.
		capacity := float64(tc.cpus)
		if tc.quota > 0 && tc.quota < capacity {
			capacity = tc.quota
		}
		if want := uint64(1000 * capacity); first.Idle != want {
			t.Errorf("%s: first read idle %d, want age x capacity %d", tc.name, first.Idle, want)
		}
	}
}

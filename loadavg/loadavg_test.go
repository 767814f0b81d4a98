package loadavg

import (
	"fmt"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/proc"
)

// fakeCounter returns a fixed count per cgroup; a missing cgroup is gone.
type fakeCounter struct {
	n      map[string]hostcgroup.LoadCount
	counts int
	forgot []string
}

func (f *fakeCounter) Count(cg hostcgroup.LoadCgroup) (hostcgroup.LoadCount, error) {
	f.counts++
	n, ok := f.n[cg.Dir]
	if !ok {
		return n, fmt.Errorf("%s: %w", cg.Dir, hostcgroup.ErrCgroupGone)
	}
	return n, nil
}

func (f *fakeCounter) Forget(cg hostcgroup.LoadCgroup) { f.forgot = append(f.forgot, cg.Dir) }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func render(v Value) string {
	return string(proc.Loadavg(nil, nil, &proc.Load{Avg: v.Avg, Running: v.Running, Total: v.Total, LastPID: v.LastPID}))
}

// TestReferenceSequence replays lxcfs 5.0.3's measured sequence (two busy
// loops in a fresh cgroup, one sample every 5 s; reference section 3.6),
// which is the kernel's formula to the digit.
func TestReferenceSequence(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	fc := &fakeCounter{n: map[string]hostcgroup.LoadCount{"/c": {Running: 2, Total: 6, LastPID: 4242}}}
	s := New(Options{Counter: fc, Now: clk.now})
	cg := hostcgroup.LoadCgroup{Dir: "/c", V1: true}
	v, err := s.Read(cg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(v), "0.00 0.00 0.00 2/6 4242\n"; got != want {
		t.Errorf("first read = %q, want %q", got, want)
	}
	want := []string{
		"0.16 0.03 0.01", "0.31 0.07 0.02", "0.44 0.10 0.03", "0.57 0.13 0.04",
		"0.68 0.16 0.05", "0.79 0.19 0.06", "0.89 0.22 0.08", "0.97 0.25 0.09",
	}
	for i, w := range want {
		clk.t = clk.t.Add(Interval)
		s.Tick(clk.t)
		v, _ := s.Read(cg)
		if got := render(v); got != w+" 2/6 4242\n" {
			t.Errorf("sample %d = %q, want %q", i+1, got, w+" 2/6 4242\n")
		}
	}
}

// TestKernelFormula checks Step against a direct transcription of the
// kernel's calc_load for a varied series of counts, and the output against
// the kernel's LOAD_INT/LOAD_FRAC.
func TestKernelFormula(t *testing.T) {
	calc := func(load, exp, active uint64) uint64 {
		newload := load*exp + active*(2048-exp)
		if active >= load {
			newload += 2047
		}
		return newload / 2048
	}
	var a Averages
	var k [3]uint64
	series := []int{0, 1, 5, 40, 40, 3, 0, 0, 7, 1000, 2, 2, 0}
	for i := range 2000 {
		n := series[i%len(series)]
		a.Step(n)
		x := uint64(n) * 2048
		k[0], k[1], k[2] = calc(k[0], 1884, x), calc(k[1], 2014, x), calc(k[2], 2037, x)
		if a != Averages(k) {
			t.Fatalf("step %d: %v, kernel %v", i, a, k)
		}
		got := render(Value{Avg: a})
		var want string
		for j, l := range k {
			l += 2048 / 200
			if j > 0 {
				want += " "
			}
			want += fmt.Sprintf("%d.%02d", l>>11, ((l&2047)*100)>>11)
		}
		want += " 0/0 0\n"
		if got != want {
			t.Fatalf("step %d: %q, want %q", i, got, want)
		}
	}
}

func TestDropsIdleAndGone(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	fc := &fakeCounter{n: map[string]hostcgroup.LoadCount{"/a": {Running: 1, Total: 1}, "/b": {Total: 3}}}
	s := New(Options{Counter: fc, Now: clk.now, Idle: time.Minute})
	a := hostcgroup.LoadCgroup{Dir: "/a"}
	b := hostcgroup.LoadCgroup{Dir: "/b"}
	s.Read(a)
	s.Read(b)
	for range 6 { // 30 s: both tracked
		clk.t = clk.t.Add(Interval)
		s.Tick(clk.t)
	}
	if s.Len() != 2 {
		t.Fatalf("tracked %d, want 2", s.Len())
	}
	s.Read(a) // a keeps reading, b does not
	fc.counts = 0
	for range 8 { // 40 s more: b idle for 70 s
		clk.t = clk.t.Add(Interval)
		s.Tick(clk.t)
	}
	if s.Len() != 1 {
		t.Fatalf("tracked %d after b went idle, want 1", s.Len())
	}
	delete(fc.n, "/a") // a's cgroup removed
	clk.t = clk.t.Add(Interval)
	s.Tick(clk.t)
	if s.Len() != 0 {
		t.Fatalf("tracked %d after a's cgroup went, want 0", s.Len())
	}
	if len(fc.forgot) != 2 {
		t.Errorf("forgot %v, want both", fc.forgot)
	}
	before := fc.counts
	clk.t = clk.t.Add(Interval)
	s.Tick(clk.t)
	if fc.counts != before {
		t.Errorf("an empty sampler counted %d cgroups", fc.counts-before)
	}
}

// TestReadAfterGoneStartsAfresh: a container whose cgroup went and came back
// starts from zero, as a new cgroup.
func TestReadAfterGoneStartsAfresh(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	fc := &fakeCounter{n: map[string]hostcgroup.LoadCount{"/a": {Running: 4, Total: 4}}}
	s := New(Options{Counter: fc, Now: clk.now})
	a := hostcgroup.LoadCgroup{Dir: "/a"}
	s.Read(a)
	clk.t = clk.t.Add(Interval)
	s.Tick(clk.t)
	if v, _ := s.Read(a); v.Avg[0] == 0 {
		t.Fatal("no load after a sample")
	}
	delete(fc.n, "/a")
	s.Tick(clk.t.Add(Interval))
	if _, err := s.Read(a); err == nil {
		t.Fatal("read of a gone cgroup succeeded")
	}
	fc.n["/a"] = hostcgroup.LoadCount{Total: 1}
	if v, _ := s.Read(a); v.Avg != (Averages{}) {
		t.Errorf("recreated cgroup has history %v", v.Avg)
	}
}

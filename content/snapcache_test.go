package content

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/internal/fakeclock"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// newFakeClock is a clock for the cache's lifetimes.
func newFakeClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1_000_000, 0)) }

// fakeCgroups stands for the cgroup files: a memory limit per unified
// path, and the reads made of them.
type fakeCgroups struct {
	mu     sync.Mutex
	limits map[string]uint64
	reads  []hostcgroup.Want
}

func (f *fakeCgroups) set(path string, limit uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limits[path] = limit
}

func (f *fakeCgroups) read(cg hostcgroup.Cgroups, want hostcgroup.Want) *hostcgroup.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, want)
	s := &hostcgroup.Snapshot{}
	if want&hostcgroup.WantMemory != 0 {
		s.Memory = &hostcgroup.Memory{Limit: hostcgroup.Bytes(f.limits[cg.Unified])}
	}
	if want&(hostcgroup.WantCPU|hostcgroup.WantCPUQuota) != 0 {
		s.CPU = &hostcgroup.CPU{}
		if want&hostcgroup.WantCPUQuota != 0 {
			s.CPU.QuotaCPUs = 0.5
		}
	}
	if want&hostcgroup.WantUsage != 0 {
		s.Usage = &hostcgroup.CPUUsage{UserNanos: uint64(len(f.reads))}
	}
	if want&hostcgroup.WantTasks != 0 {
		s.Tasks = &hostcgroup.Tasks{Total: 3, Running: 1, Blocked: 1}
	}
	return s
}

func (f *fakeCgroups) nreads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reads)
}

func newFakeCgroups() *fakeCgroups { return &fakeCgroups{limits: map[string]uint64{}} }

// v1Maps hands out one v1 map per path, as View.Cgroups does per
// /proc/<pid>/cgroup text.
var v1Maps sync.Map

// caller is a container whose init (pid, start) is in the cgroup path (in
// the unified hierarchy and name=systemd).
func caller(pid int, start uint64, path string) *Caller {
	p := hostcgroup.Process{PID: pid, StartTicks: start}
	v1, _ := v1Maps.LoadOrStore(path, map[string]string{"name=systemd": path})
	return &Caller{TID: pid, Ref: p, Init: p, Cgroups: hostcgroup.Cgroups{Unified: path, HasUnified: true,
		V1: v1.(map[string]string)}}
}

func limitOf(s *hostcgroup.Snapshot) uint64 { return s.Memory.Limit.Value }

// A container's values are read once per ttl: a limit change shows after
// the ttl, not before.
func TestSnapTTL(t *testing.T) {
	clk, cgs := newFakeClock(), newFakeCgroups()
	sc := newSnapCache(100*time.Millisecond, clk.Now)
	c := caller(100, 7, "/lxc/a")
	cgs.set("/lxc/a", 1)
	if got := limitOf(sc.snapshot(c, hostcgroup.WantMemory, cgs.read)); got != 1 {
		t.Fatalf("limit %d, want 1", got)
	}
	cgs.set("/lxc/a", 2)
	clk.Add(99 * time.Millisecond)
	if got := limitOf(sc.snapshot(c, hostcgroup.WantMemory, cgs.read)); got != 1 {
		t.Errorf("99 ms later: limit %d, want the shared 1", got)
	}
	clk.Add(time.Millisecond)
	if got := limitOf(sc.snapshot(c, hostcgroup.WantMemory, cgs.read)); got != 2 {
		t.Errorf("100 ms later: limit %d, want the new 2", got)
	}
	if n := cgs.nreads(); n != 2 {
		t.Errorf("%d reads of the cgroup files, want 2", n)
	}
	// A clock that goes back makes the entry stale rather than young.
	cgs.set("/lxc/a", 3)
	clk.Add(-time.Second)
	if got := limitOf(sc.snapshot(c, hostcgroup.WantMemory, cgs.read)); got != 3 {
		t.Errorf("after the clock went back: limit %d, want 3", got)
	}
}

// The three ways another container could come to share a key, and two
// readers that must share one. In each case "before" reads, the cgroups
// change, and "after" reads at once (no time passes).
func TestSnapKey(t *testing.T) {
	host := func(pid int, start uint64, path string) *Caller {
		c := caller(pid, start, path)
		c.Init = hostcgroup.Process{PID: 1, StartTicks: 1} // the daemon's pid namespace
		return c
	}
	tests := []struct {
		name          string
		before, after *Caller
		// change is made to the cgroups between the reads.
		change func(*fakeCgroups)
		want   uint64
	}{{
		// The init moved to another cgroup: its /proc/<pid>/cgroup
		// names the new one.
		name:   "process moved",
		before: caller(100, 7, "/lxc/a"),
		after:  caller(100, 7, "/lxc/b"),
		want:   20,
	}, {
		// The container's init died and its pid went to another
		// container's init, in a cgroup of the same name made again.
		name:   "pid reused",
		before: caller(100, 7, "/lxc/a"),
		after:  caller(100, 9, "/lxc/a"),
		change: func(f *fakeCgroups) { f.set("/lxc/a", 30) },
		want:   30,
	}, {
		// The cgroup was removed and made again for another container:
		// its init is another process.
		name:   "cgroup recreated",
		before: caller(100, 7, "/lxc/a"),
		after:  caller(200, 8, "/lxc/a"),
		change: func(f *fakeCgroups) { f.set("/lxc/a", 40) },
		want:   40,
	}, {
		// Readers in the daemon's pid namespace resolve to their own
		// process: two of them never share, even in one cgroup.
		name:   "host processes",
		before: host(300, 7, "/lxc/a"),
		after:  host(301, 7, "/lxc/a"),
		change: func(f *fakeCgroups) { f.set("/lxc/a", 50) },
		want:   50,
	}, {
		// A container's init in another pid namespace is another
		// container, whatever the process.
		name:   "another init",
		before: host(100, 7, "/lxc/a"),
		after:  caller(100, 7, "/lxc/a"),
		change: func(f *fakeCgroups) { f.set("/lxc/a", 60) },
		want:   60,
	}, {
		// The same container, another thread: shared (the test of the
		// test: the cache does serve the old value).
		name:   "same container",
		before: caller(100, 7, "/lxc/a"),
		after:  func() *Caller { c := caller(100, 7, "/lxc/a"); c.TID = 123; return c }(),
		change: func(f *fakeCgroups) { f.set("/lxc/a", 70) },
		want:   10,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk, cgs := newFakeClock(), newFakeCgroups()
			cgs.set("/lxc/a", 10)
			cgs.set("/lxc/b", 20)
			sc := newSnapCache(time.Second, clk.Now)
			if got := limitOf(sc.snapshot(tt.before, hostcgroup.WantMemory, cgs.read)); got != 10 {
				t.Fatalf("before: limit %d, want 10", got)
			}
			if tt.change != nil {
				tt.change(cgs)
			}
			if got := limitOf(sc.snapshot(tt.after, hostcgroup.WantMemory, cgs.read)); got != tt.want {
				t.Errorf("after: limit %d, want %d", got, tt.want)
			}
		})
	}
}

// The v1 paths are keyed by their map: another map is another key,
// whatever it holds (equal content only costs a fill), and a v1-only
// move (the unified path unchanged) is another key.
func TestSnapKeyV1(t *testing.T) {
	clk, cgs := newFakeClock(), newFakeCgroups()
	cgs.set("/", 1)
	sc := newSnapCache(time.Second, clk.Now)
	p := hostcgroup.Process{PID: 100, StartTicks: 7}
	c := func(v1 map[string]string) *Caller {
		return &Caller{Ref: p, Init: p, Cgroups: hostcgroup.Cgroups{Unified: "/", HasUnified: true, V1: v1}}
	}
	a := map[string]string{"memory": "/a"}
	sc.snapshot(c(a), hostcgroup.WantMemory, cgs.read)
	sc.snapshot(c(a), hostcgroup.WantMemory, cgs.read)
	if n := cgs.nreads(); n != 1 {
		t.Fatalf("%d reads for one map, want 1", n)
	}
	sc.snapshot(c(map[string]string{"memory": "/b"}), hostcgroup.WantMemory, cgs.read)
	if n := cgs.nreads(); n != 2 {
		t.Errorf("a v1 move was served the old entry")
	}
	sc.snapshot(c(nil), hostcgroup.WantMemory, cgs.read)
	if n := cgs.nreads(); n != 3 {
		t.Errorf("no v1 paths was served an entry with some")
	}
}

// A read takes the fresh parts and reads only the parts it wants that are
// missing or stale; CPU read without the quota does not serve a read that
// wants it.
func TestSnapParts(t *testing.T) {
	clk, cgs := newFakeClock(), newFakeCgroups()
	sc := newSnapCache(100*time.Millisecond, clk.Now)
	c := caller(100, 7, "/lxc/a")
	const (
		mem   = hostcgroup.WantMemory
		cpu   = hostcgroup.WantCPU
		quota = hostcgroup.WantCPUQuota
		usage = hostcgroup.WantUsage
		tasks = hostcgroup.WantTasks
	)
	steps := []struct {
		after time.Duration
		want  hostcgroup.Want
		read  hostcgroup.Want // 0: none
	}{
		{0, mem, mem},
		{10 * time.Millisecond, cpu | usage | tasks, cpu | usage | tasks},
		{10 * time.Millisecond, mem | cpu, 0},
		{10 * time.Millisecond, cpu | quota, cpu | quota},
		{10 * time.Millisecond, cpu, 0},
		{60 * time.Millisecond, mem, mem},           // 100 ms after the first
		{0, cpu | usage, 0},                         // CPU was read 70 ms ago, usage 90
		{10 * time.Millisecond, cpu | usage, usage}, // usage 100 ms ago
		{10 * time.Millisecond, cpu | quota, 0},     // CPU 90 ms ago
		{10 * time.Millisecond, cpu, cpu},           // 100 ms: read without the quota...
		{0, cpu | quota, cpu | quota},               // ...so it is read again with it
	}
	var all hostcgroup.Want
	for i, st := range steps {
		clk.Add(st.after)
		n := cgs.nreads()
		snap := sc.snapshot(c, st.want, cgs.read)
		var read hostcgroup.Want
		if cgs.nreads() > n {
			read = cgs.reads[n]
		}
		if read != st.read {
			t.Errorf("step %d: want %b read %b, want %b", i, st.want, read, st.read)
		}
		all |= st.want
		if st.want&mem != 0 && snap.Memory == nil || st.want&cpu != 0 && snap.CPU == nil {
			t.Errorf("step %d: a wanted part is missing: %+v", i, snap)
		}
		if st.want&quota != 0 && snap.CPU.QuotaCPUs != 0.5 {
			t.Errorf("step %d: CPU without the quota", i)
		}
	}
	if all&^(1<<snapParts-1) != 0 {
		t.Fatalf("the steps use parts beyond snapParts")
	}
}

// The cache knows every part a file can want.
func TestSnapPartsCoverWants(t *testing.T) {
	for _, f := range vfiles.Files() {
		w := rendererOf(f).want | hostcgroup.WantCPUQuota
		if w >= 1<<snapParts {
			t.Errorf("%v wants %b, beyond the %d parts the cache keeps", f, w, snapParts)
		}
	}
	if hostcgroup.WantIO != 1<<(snapParts-1) {
		t.Errorf("WantIO is %b: snapParts or merge need a new part", hostcgroup.WantIO)
	}
}

// With a ttl of 0 every read reads the files.
func TestSnapOff(t *testing.T) {
	clk, cgs := newFakeClock(), newFakeCgroups()
	sc := newSnapCache(0, clk.Now)
	c := caller(100, 7, "/lxc/a")
	for range 3 {
		sc.snapshot(c, hostcgroup.WantMemory, cgs.read)
	}
	if n := cgs.nreads(); n != 3 {
		t.Errorf("%d reads, want 3", n)
	}
}

// Readers of one container at one moment share one read of the files,
// however many they are; the one that reads makes the others wait.
func TestSnapConcurrentReaders(t *testing.T) {
	const readers, reads = 8, 200
	clk, cgs := newFakeClock(), newFakeCgroups()
	cgs.set("/lxc/a", 1)
	sc := newSnapCache(100*time.Millisecond, clk.Now)
	var wg sync.WaitGroup
	errs := make(chan string, readers*reads)
	for r := range readers {
		wg.Go(func() {
			c := caller(100, 7, "/lxc/a")
			c.TID = 1000 + r
			for range reads {
				s := sc.snapshot(c, hostcgroup.WantMemory|hostcgroup.WantTasks, cgs.read)
				if s.Memory == nil || s.Tasks == nil {
					errs <- "a part is missing"
					continue
				}
				if v := limitOf(s); v != 1 {
					errs <- "limit " + strconv.FormatUint(v, 10)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := cgs.nreads(); n != 1 {
		t.Errorf("%d reads of the files by %d readers at one moment, want 1", n, readers)
	}
	if n := sc.fills.Load(); n != 1 {
		t.Errorf("%d fills, want 1", n)
	}
}

// Entries of containers that no longer read go.
func TestSnapForgets(t *testing.T) {
	clk, cgs := newFakeClock(), newFakeCgroups()
	sc := newSnapCache(100*time.Millisecond, clk.Now)
	for i := range 100 {
		sc.snapshot(caller(100+i, 7, "/lxc/"+strconv.Itoa(i)), hostcgroup.WantMemory, cgs.read)
	}
	if n := sc.m.Len(); n != 100 {
		t.Fatalf("%d entries, want 100", n)
	}
	clk.Add(2*snapCachePeriod + time.Second)
	sc.snapshot(caller(1, 1, "/other"), hostcgroup.WantMemory, cgs.read)
	if n := sc.m.Len(); n != 1 {
		t.Errorf("%d entries two periods later, want 1", n)
	}
}

// fixtureSource is a Source over a copy of hostcgroup's v2 fixture tree,
// with host meminfo, stat and diskstats, on the clock clk.
func fixtureSource(t *testing.T, clk *fakeclock.Clock) (*Source, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../hostcgroup/testdata/v2")); err != nil {
		t.Fatal(err)
	}
	hostFiles := map[string]string{
		"meminfo": "MemTotal:       8388608 kB\nMemFree:        4194304 kB\nMemAvailable:   6291456 kB\n" +
			"SwapTotal:             0 kB\nSwapFree:              0 kB\n",
		"stat": "cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 25 0 25 250 0 0 0 0 0 0\ncpu1 25 0 25 250 0 0 0 0 0 0\n" +
			"cpu2 25 0 25 250 0 0 0 0 0 0\ncpu3 25 0 25 250 0 0 0 0 0 0\nintr 1\nctxt 1\nbtime 1000\nprocesses 10\n" +
			"procs_running 1\nprocs_blocked 0\n",
		"diskstats": "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
		"uptime":    "1000.00 3000.00\n",
	}
	for name, text := range hostFiles {
		if err := os.WriteFile(filepath.Join(root, "proc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "sys/devices/system/cpu"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sys/devices/system/cpu/online"), []byte("0-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{ProcFS: root + "/proc", SysFS: root + "/sys", MountPrefix: root,
		Now: clk.Now, SnapshotTTL: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, root
}

func memTotalKB(t *testing.T, meminfo []byte) int {
	t.Helper()
	for l := range strings.Lines(string(meminfo)) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "MemTotal:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no MemTotal in %q", meminfo)
	return 0
}

// Through the renderers, with the cgroup files of a fixture tree: a limit
// written to memory.max shows in meminfo once the ttl has passed.
func TestSnapLimitChange(t *testing.T) {
	clk := newFakeClock()
	s, root := fixtureSource(t, clk)
	cgs, err := s.View().Cgroups(4100) // /machine.slice/c2, 512 MiB
	if err != nil {
		t.Fatal(err)
	}
	c := &Caller{Ref: hostcgroup.Process{PID: 4100, StartTicks: 5}, Init: hostcgroup.Process{PID: 4100, StartTicks: 5}, Cgroups: cgs}
	meminfo := func() int {
		t.Helper()
		b, err := s.RenderFor(nil, vfiles.Meminfo, c)
		if err != nil {
			t.Fatal(err)
		}
		return memTotalKB(t, b)
	}
	if got := meminfo(); got != 512*1024 {
		t.Fatalf("MemTotal %d kB, want %d", got, 512*1024)
	}
	max := filepath.Join(root, "sys/fs/cgroup/machine.slice/c2/memory.max")
	if err := os.WriteFile(max, []byte("268435456\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clk.Add(99 * time.Millisecond)
	if got := meminfo(); got != 512*1024 {
		t.Errorf("99 ms after the change: MemTotal %d kB, want the shared %d", got, 512*1024)
	}
	clk.Add(time.Millisecond)
	if got := meminfo(); got != 256*1024 {
		t.Errorf("100 ms after the change: MemTotal %d kB, want %d", got, 256*1024)
	}
}

// Renderers change copies of what they adjust per read, never the shared
// snapshot: stat counts the reader as running, diskstats puts the
// per-task bytes on the reader's root disk.
func TestSnapRenderersLeaveSnapshot(t *testing.T) {
	clk := newFakeClock()
	s, _ := fixtureSource(t, clk)
	c := &Caller{Ref: hostcgroup.Process{PID: os.Getpid()}, Init: hostcgroup.Process{PID: 1}}
	snap := &hostcgroup.Snapshot{
		Tasks: &hostcgroup.Tasks{Total: 5, Running: 1, Blocked: 2},
		IO:    &hostcgroup.IO{Devices: map[hostcgroup.Dev]hostcgroup.IOCounters{}, Tasks: &hostcgroup.TaskIO{ReadBytes: 512, WriteBytes: 1024}},
	}
	keep := &hostcgroup.Snapshot{
		Tasks: &hostcgroup.Tasks{Total: 5, Running: 1, Blocked: 2},
		IO:    &hostcgroup.IO{Devices: map[hostcgroup.Dev]hostcgroup.IOCounters{}, Tasks: &hostcgroup.TaskIO{ReadBytes: 512, WriteBytes: 1024}},
	}
	for range 2 {
		out, err := s.renderStat(nil, vfiles.Stat, c, snap)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte("procs_running 2\nprocs_blocked 1\n")) {
			t.Errorf("stat does not count the reader as running:\n%s", out)
		}
		if _, err := s.renderDiskstats(nil, vfiles.Diskstats, c, snap); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(keep, snap); diff != "" {
		t.Errorf("the renderers changed the snapshot (-before +after):\n%s", diff)
	}
}

func BenchmarkSnapHit(b *testing.B) {
	clk, cgs := newFakeClock(), newFakeCgroups()
	sc := newSnapCache(time.Hour, clk.Now)
	c := caller(100, 7, "/lxc.payload.c1")
	b.ReportAllocs()
	for b.Loop() {
		sc.snapshot(c, hostcgroup.WantMemory, cgs.read)
	}
}

// BenchmarkRenderShared is BenchmarkRenderSelf with the snapshot read on
// every read (ttl 0) and shared for DefaultSnapshotTTL: what the cache
// saves per read of one container's files.
func BenchmarkRenderShared(b *testing.B) {
	for _, ttl := range []time.Duration{0, DefaultSnapshotTTL} {
		s, err := New(Options{SnapshotTTL: ttl})
		if err != nil {
			b.Skip(err)
		}
		b.Cleanup(s.Close)
		for _, f := range []vfiles.File{vfiles.Meminfo, vfiles.Stat, vfiles.CPUInfo, vfiles.Uptime, vfiles.Loadavg} {
			b.Run(f.String()+"/ttl="+ttl.String(), func(b *testing.B) {
				buf := make([]byte, 0, 64<<10)
				b.ReportAllocs()
				for b.Loop() {
					if buf, err = s.Render(buf[:0], f, os.Getpid()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

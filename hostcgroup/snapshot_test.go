package hostcgroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The fixture trees in testdata/ write memory.stat key number i (0-based,
// in the order below) as N*1048576 + i*4096, with N chosen per cgroup, so a
// key mapped to the wrong field shows up as a wrong value.
var (
	v1StatKeys = strings.Fields(`cache rss rss_huge shmem mapped_file dirty writeback
		workingset_refault_anon workingset_refault_file swap swapcached pgpgin pgpgout
		pgfault pgmajfault inactive_anon active_anon inactive_file active_file
		unevictable hierarchical_memory_limit hierarchical_memsw_limit total_cache
		total_rss total_rss_huge total_shmem total_mapped_file total_dirty
		total_writeback total_workingset_refault_anon total_workingset_refault_file
		total_swap total_swapcached total_pgpgin total_pgpgout total_pgfault
		total_pgmajfault total_inactive_anon total_active_anon total_inactive_file
		total_active_file total_unevictable`)
	v2StatKeys = strings.Fields(`anon file kernel kernel_stack pagetables
		sec_pagetables percpu sock vmalloc shmem zswap zswapped file_mapped file_dirty
		file_writeback swapcached anon_thp file_thp shmem_thp inactive_anon
		active_anon inactive_file active_file unevictable slab_reclaimable
		slab_unreclaimable slab workingset_refault_anon workingset_refault_file
		workingset_activate_anon workingset_activate_file workingset_restore_anon
		workingset_restore_file workingset_nodereclaim pgscan pgsteal pgfault
		pgmajfault pgrefill thp_fault_alloc thp_collapse_alloc`)
	v2StatKeysNoZswap = slices.DeleteFunc(slices.Clone(v2StatKeys), func(k string) bool {
		return k == "zswap" || k == "zswapped"
	})
)

func statValue(keys []string, n uint64, key string) uint64 {
	i := slices.Index(keys, key)
	if i < 0 {
		panic("no key " + key)
	}
	return n*1048576 + uint64(i)*4096
}

func wantStatV1(n uint64) MemoryStat {
	v := func(k string) uint64 { return statValue(v1StatKeys, n, k) }
	return MemoryStat{
		CacheBytes: v("total_cache"), RSSBytes: v("total_rss"), AnonHugeBytes: v("total_rss_huge"),
		ShmemBytes: v("total_shmem"), MappedBytes: v("total_mapped_file"), DirtyBytes: v("total_dirty"),
		WritebackBytes: v("total_writeback"), ActiveAnonBytes: v("total_active_anon"),
		InactiveAnonBytes: v("total_inactive_anon"), ActiveFileBytes: v("total_active_file"),
		InactiveFileBytes: v("total_inactive_file"), UnevictableBytes: v("total_unevictable"),
		SwapCachedBytes: v("total_swapcached"),
	}
}

func wantStatV2(n uint64, zswap bool) MemoryStat {
	keys := v2StatKeysNoZswap
	if zswap {
		keys = v2StatKeys
	}
	v := func(k string) uint64 { return statValue(keys, n, k) }
	s := MemoryStat{
		CacheBytes: v("file"), RSSBytes: v("anon"), AnonHugeBytes: v("anon_thp"),
		ShmemBytes: v("shmem"), MappedBytes: v("file_mapped"), DirtyBytes: v("file_dirty"),
		WritebackBytes: v("file_writeback"), ActiveAnonBytes: v("active_anon"),
		InactiveAnonBytes: v("inactive_anon"), ActiveFileBytes: v("active_file"),
		InactiveFileBytes: v("inactive_file"), UnevictableBytes: v("unevictable"),
		HasSlab: true, SlabBytes: v("slab"), SlabReclaimableBytes: v("slab_reclaimable"),
		SlabUnreclaimableBytes: v("slab_unreclaimable"),
		SwapCachedBytes:        v("swapcached"), KernelStackBytes: v("kernel_stack"),
		PageTablesBytes: v("pagetables"), SecPageTablesBytes: v("sec_pagetables"),
		PercpuBytes: v("percpu"), VmallocBytes: v("vmalloc"),
		FileHugeBytes: v("file_thp"), ShmemHugeBytes: v("shmem_thp"),
	}
	if zswap {
		s.HasZswap, s.ZswapBytes, s.ZswappedBytes = true, v("zswap"), v("zswapped")
	}
	return s
}

func cpus(t *testing.T, s string) CPUSet {
	t.Helper()
	set, err := ParseCPUSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func usage(per ...CPUTime) *CPUUsage {
	u := &CPUUsage{PerCPU: per}
	for _, c := range per {
		u.UserNanos += c.UserNanos
		u.SystemNanos += c.SystemNanos
	}
	return u
}

func fixtureView(t *testing.T, name string) *View {
	t.Helper()
	root := filepath.Join("testdata", name)
	v, err := New(Options{ProcFS: root + "/proc", MountPrefix: root})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const all = WantMemory | WantCPU | WantCPUQuota | WantUsage | WantSlabinfo

const (
	kiB = 1024
	miB = 1024 * kiB
	giB = 1024 * miB
)

func TestFixtureLayouts(t *testing.T) {
	tests := []struct {
		fixture string
		kind    LayoutKind
		// mount point per controller ("" = none)
		memory, cpu, cpuset, cpuacct, systemd string
	}{
		{"v1", LayoutV1, "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/systemd"},
		{"hybrid", LayoutHybrid, "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/systemd"},
		{"v2", LayoutV2, "/sys/fs/cgroup", "/sys/fs/cgroup", "/sys/fs/cgroup", "", ""},
		{"no-memory", LayoutHybrid, "", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/systemd"},
		{"no-limit", LayoutV2, "/sys/fs/cgroup", "/sys/fs/cgroup", "/sys/fs/cgroup", "", ""},
		{"broken", LayoutHybrid, "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/systemd"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			l := fixtureView(t, tt.fixture).Layout()
			if l.Kind != tt.kind {
				t.Errorf("Kind = %v, want %v", l.Kind, tt.kind)
			}
			for ctrl, want := range map[string]string{"memory": tt.memory, "cpu": tt.cpu, "cpuset": tt.cpuset, "cpuacct": tt.cpuacct, "name=systemd": tt.systemd} {
				got := ""
				if h := l.ForController(ctrl); h != nil {
					got = h.MountPoint
				}
				if got != want {
					t.Errorf("ForController(%q) = %q, want %q", ctrl, got, want)
				}
			}
		})
	}
}

func TestFixtureLayoutV1Full(t *testing.T) {
	got := fixtureView(t, "v1").Layout()
	h := func(mp string, c ...string) Hierarchy {
		return Hierarchy{Version: 1, Controllers: c, MountPoint: "/sys/fs/cgroup/" + mp, Root: "/"}
	}
	want := &Layout{
		Kind: LayoutV1,
		Hierarchies: []Hierarchy{
			h("systemd", "name=systemd"), h("cpu,cpuacct", "cpu", "cpuacct"), h("cpuset", "cpuset"),
			h("memory", "memory"), h("pids", "pids"), h("blkio", "blkio"), h("net_cls,net_prio", "net_cls", "net_prio"),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	if got := fixtureView(t, "hybrid").Layout().Unified; got == nil || got.MountPoint != "/sys/fs/cgroup/unified" || got.Controllers != nil {
		t.Errorf("hybrid Unified = %+v, want /sys/fs/cgroup/unified without controllers", got)
	}
}

func TestFixtureCgroups(t *testing.T) {
	same := func(p string, ctrls ...string) map[string]string {
		m := map[string]string{}
		for _, c := range ctrls {
			m[c] = p
		}
		return m
	}
	hybridCtrls := []string{"name=systemd", "pids", "blkio", "freezer", "devices", "memory", "cpuset", "cpuacct", "cpu"}
	brokenCtrls := []string{"name=systemd", "memory", "cpuset", "cpu", "cpuacct"}
	tests := []struct {
		fixture string
		pid     int
		want    Cgroups
		wantErr error
	}{
		{"v1", 1, Cgroups{V1: same("/", "net_cls", "net_prio", "blkio", "pids", "memory", "cpuset", "cpu", "cpuacct", "name=systemd")}, nil},
		{"v1", 1000, Cgroups{V1: same("/lxc/c1", "net_cls", "net_prio", "blkio", "pids", "memory", "cpuset", "cpu", "cpuacct", "name=systemd")}, nil},
		{"hybrid", 3000, Cgroups{V1: same("/lxc.payload.c1", hybridCtrls...), Unified: "/lxc.payload.c1", HasUnified: true}, nil},
		{"v2", 1, Cgroups{V1: map[string]string{}, Unified: "/", HasUnified: true}, nil},
		{"v2", 4000, Cgroups{V1: map[string]string{}, Unified: "/machine.slice/c1", HasUnified: true}, nil},
		{"broken", 7009, Cgroups{V1: same("/good", brokenCtrls...)}, nil},
		{"broken", 7010, Cgroups{}, ErrParse},
		{"broken", 9999, Cgroups{}, ErrNoProcess},
		{"broken", 0, Cgroups{}, ErrNoProcess},
	}
	for _, tt := range tests {
		v := fixtureView(t, tt.fixture)
		got, err := v.Cgroups(tt.pid)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Cgroups(%d) err = %v, want %v", tt.fixture, tt.pid, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: Cgroups(%d) (-want +got):\n%s", tt.fixture, tt.pid, diff)
		}
	}
}

func TestFixtureSnapshots(t *testing.T) {
	v1Slab, err := os.ReadFile("testdata/v1/sys/fs/cgroup/memory/lxc/c1/memory.kmem.slabinfo")
	if err != nil {
		t.Fatal(err)
	}
	const v1Unlimited = 9223372036854771712
	// good is the snapshot of the sane cgroups in the broken fixture.
	good := func() *Snapshot {
		return &Snapshot{
			Memory: &Memory{Limit: Bytes(512 * miB), UsageBytes: 10 * miB, Swap: &Swap{Limit: Bytes(512 * miB)}, Swappiness: 60, Stat: wantStatV1(10)},
			CPU:    &CPU{CPUs: cpus(t, "0-1")},
			Usage:  usage(CPUTime{10, 1}, CPUTime{20, 2}),
		}
	}
	tests := []struct {
		name    string
		fixture string
		pid     int
		want    *Snapshot
	}{
		{
			name: "v1 host root, unlimited", fixture: "v1", pid: 1,
			want: &Snapshot{
				Memory: &Memory{Limit: NoLimit, UsageBytes: 2 * giB, Swap: &Swap{Limit: NoLimit}, Swappiness: 60, Stat: wantStatV1(2000)},
				CPU:    &CPU{CPUs: cpus(t, "0-3")},
				Usage: usage(CPUTime{800e9, 300e9}, CPUTime{700e9, 250e9},
					CPUTime{600e9, 200e9}, CPUTime{500e9, 150e9}),
			},
		},
		{
			name: "v1 container with own limits, init.scope pruned", fixture: "v1", pid: 1000,
			want: &Snapshot{
				Memory: &Memory{
					Limit: Bytes(512 * miB), UsageBytes: 100 * miB,
					// memsw 768 MiB - memory 512 MiB; 150 MiB - 100 MiB used
					Swap:       &Swap{Limit: Bytes(256 * miB), UsageBytes: 50 * miB},
					Swappiness: 30, Stat: wantStatV1(100),
				},
				CPU:      &CPU{CPUs: cpus(t, "1-2"), QuotaCPUs: 1.5},
				Usage:    usage(CPUTime{}, CPUTime{5e9, 1e9}, CPUTime{4e9, 2e9}, CPUTime{}),
				Slabinfo: v1Slab,
			},
		},
		{
			name: "v1 container under a smaller parent, usage_percpu fallback", fixture: "v1", pid: 2000,
			want: &Snapshot{
				Memory: &Memory{
					Limit: Bytes(1 * giB), UsageBytes: 50 * miB,
					// min memsw over ancestors (2 GiB at /lxc) - min memory (1 GiB)
					Swap:       &Swap{Limit: Bytes(1 * giB)},
					Swappiness: 60, Stat: wantStatV1(50),
				},
				// empty cpuset files: the parent's effective set
				CPU:   &CPU{CPUs: cpus(t, "0-2"), QuotaCPUs: 3},
				Usage: usage(CPUTime{UserNanos: 1e9}, CPUTime{UserNanos: 2e9}, CPUTime{UserNanos: 3e9}, CPUTime{UserNanos: 4e9}),
			},
		},
		{
			name: "hybrid host root", fixture: "hybrid", pid: 1,
			want: &Snapshot{
				Memory: &Memory{Limit: NoLimit, UsageBytes: 1 * giB, Swappiness: 60, Stat: wantStatV1(1000)},
				CPU:    &CPU{CPUs: cpus(t, "0-3")},
				Usage: usage(CPUTime{400e9, 100e9}, CPUTime{300e9, 90e9},
					CPUTime{200e9, 80e9}, CPUTime{100e9, 70e9}),
			},
		},
		{
			name: "hybrid container, no swap accounting", fixture: "hybrid", pid: 3000,
			want: &Snapshot{
				Memory: &Memory{Limit: Bytes(256 * miB), UsageBytes: 70 * miB, Swappiness: 60, Stat: wantStatV1(70)},
				CPU:    &CPU{CPUs: cpus(t, "0,2")},
				Usage:  usage(CPUTime{3e9, 1e9}, CPUTime{}, CPUTime{2e9, 0.5e9}, CPUTime{}),
			},
		},
		{
			name: "v2 host root has no memory.current", fixture: "v2", pid: 1,
			want: &Snapshot{
				CPU:   &CPU{CPUs: cpus(t, "0-3")},
				Usage: &CPUUsage{UserNanos: 900e9, SystemNanos: 300e9},
			},
		},
		{
			name: "v2 limits on the parent, max on the container", fixture: "v2", pid: 4000,
			want: &Snapshot{
				Memory: &Memory{
					Limit: Bytes(1 * giB), UsageBytes: 200 * miB,
					Swap:       &Swap{Limit: Bytes(256 * miB), UsageBytes: 1 * miB},
					Swappiness: -1, Stat: wantStatV2(200, true),
				},
				// cpuset not enabled in c1: machine.slice's effective set
				CPU:   &CPU{CPUs: cpus(t, "2-3"), QuotaCPUs: 0.5},
				Usage: &CPUUsage{UserNanos: 2e9, SystemNanos: 1e9},
			},
		},
		{
			name: "v2 own limits, swap.max 0, no zswap", fixture: "v2", pid: 4100,
			want: &Snapshot{
				Memory: &Memory{
					Limit: Bytes(512 * miB), UsageBytes: 100 * miB,
					Swap:       &Swap{Limit: Bytes(0)},
					Swappiness: -1, Stat: wantStatV2(100, false),
				},
				CPU:   &CPU{CPUs: cpus(t, "2-3"), QuotaCPUs: 2},
				Usage: &CPUUsage{UserNanos: 3e9, SystemNanos: 0.5e9},
			},
		},
		{
			name: "no memory controller", fixture: "no-memory", pid: 5000,
			want: &Snapshot{
				CPU:   &CPU{CPUs: cpus(t, "3"), QuotaCPUs: 2.5},
				Usage: usage(CPUTime{}, CPUTime{}, CPUTime{}, CPUTime{7e9, 3e9}),
			},
		},
		{
			name: "no limit anywhere", fixture: "no-limit", pid: 6000,
			want: &Snapshot{
				Memory: &Memory{Limit: NoLimit, UsageBytes: 300 * miB, Swap: &Swap{Limit: NoLimit}, Swappiness: -1, Stat: wantStatV2(300, true)},
				CPU:    &CPU{CPUs: cpus(t, "0-3")},
				Usage:  &CPUUsage{UserNanos: 6e9, SystemNanos: 2e9},
			},
		},
		{
			name: "garbage memory limit", fixture: "broken", pid: 7001,
			want: func() *Snapshot { s := good(); s.Memory = nil; return s }(),
		},
		{
			name: "empty memory usage", fixture: "broken", pid: 7002,
			want: func() *Snapshot { s := good(); s.Memory = nil; return s }(),
		},
		{
			name: "garbage cpuset, 2^64-1 memory limit", fixture: "broken", pid: 7003,
			want: func() *Snapshot {
				s := good()
				s.CPU = nil
				// memory unlimited, memsw 1 GiB: memsw bounds swap
				s.Memory.Limit, s.Memory.Swap.Limit = NoLimit, Bytes(1*giB)
				return s
			}(),
		},
		{
			name: "garbage cpuacct.usage_all", fixture: "broken", pid: 7004,
			want: func() *Snapshot { s := good(); s.Usage = nil; return s }(),
		},
		{
			name: "vanished cgroups give nothing, not the parent's values", fixture: "broken", pid: 7005,
			want: &Snapshot{},
		},
		{
			name: "garbage memory.stat", fixture: "broken", pid: 7006,
			want: func() *Snapshot { s := good(); s.Memory = nil; return s }(),
		},
		{
			name: "empty cpuset and swappiness, garbage memsw limit", fixture: "broken", pid: 7007,
			want: func() *Snapshot {
				s := good()
				s.Memory.Swap, s.Memory.Swappiness = nil, -1
				s.CPU.CPUs = cpus(t, "0-3")
				return s
			}(),
		},
		{
			name: "garbage cfs quota", fixture: "broken", pid: 7008,
			want: func() *Snapshot { s := good(); s.CPU = nil; return s }(),
		},
		{
			name: "deleted cgroup2 path, v1 still fine", fixture: "broken", pid: 7009,
			want: good(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := fixtureView(t, tt.fixture)
			cg, err := v.Cgroups(tt.pid)
			if err != nil {
				t.Fatal(err)
			}
			got := v.Snapshot(cg, all)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Snapshot (-want +got):\n%s", diff)
			}
			// Each part alone equals the same part of the full snapshot.
			for _, w := range []Want{WantMemory, WantCPU | WantCPUQuota, WantUsage, WantSlabinfo} {
				part := v.Snapshot(cg, w)
				want := &Snapshot{}
				switch w {
				case WantMemory:
					want.Memory = tt.want.Memory
				case WantCPU | WantCPUQuota:
					want.CPU = tt.want.CPU
				case WantUsage:
					want.Usage = tt.want.Usage
				case WantSlabinfo:
					want.Slabinfo = tt.want.Slabinfo
				}
				if diff := cmp.Diff(want, part); diff != "" {
					t.Errorf("Snapshot(want=%d) (-want +got):\n%s", w, diff)
				}
			}
		})
	}
}

func TestSnapshotNothingWanted(t *testing.T) {
	v := fixtureView(t, "v1")
	cg, err := v.Cgroups(1000)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Snapshot{}, v.Snapshot(cg, 0)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSnapshotHandMadeCgroups covers Cgroups values that /proc never gives:
// missing controllers, paths with "..", and a zero value.
func TestSnapshotHandMadeCgroups(t *testing.T) {
	v := fixtureView(t, "v1")
	for name, cg := range map[string]Cgroups{
		"zero":           {},
		"dotdot":         {V1: map[string]string{"memory": "/lxc/../lxc/c1", "cpu": "/../lxc", "cpuset": "/lxc/c1/..", "cpuacct": "/lxc/./c1"}},
		"relative":       {V1: map[string]string{"memory": "lxc/c1", "cpu": "lxc", "cpuset": "", "cpuacct": "c1"}},
		"unknown cgroup": {V1: map[string]string{"memory": "/nope", "cpu": "/nope", "cpuset": "/nope", "cpuacct": "/nope"}},
		"unknown cpuset": {V1: map[string]string{"cpuset": "/lxc/nope"}},
		"unknown cpu":    {V1: map[string]string{"cpu": "/lxc/nope"}},
	} {
		if diff := cmp.Diff(&Snapshot{}, v.Snapshot(cg, all)); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", name, diff)
		}
	}
	// Only cpuset known: CPU is there with no quota.
	got := v.Snapshot(Cgroups{V1: map[string]string{"cpuset": "/lxc/c1"}}, all)
	if diff := cmp.Diff(&Snapshot{CPU: &CPU{CPUs: cpus(t, "1-2")}}, got); diff != "" {
		t.Errorf("cpuset only: (-want +got):\n%s", diff)
	}
}

// TestSubCgroupMount is a host whose memory hierarchy is mounted from a
// sub-cgroup (mountinfo root "/lxc/c1"), as inside a container without a
// cgroup namespace: paths below it are reachable, others are not.
func TestSubCgroupMount(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) { t.Helper(); writeFile(t, filepath.Join(root, name), content) }
	write("proc/self/mountinfo", "61 60 0:26 /lxc/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
	mem := "sys/fs/cgroup/memory/"
	write(mem+"memory.limit_in_bytes", "1073741824\n")
	write(mem+"sub/memory.limit_in_bytes", "9223372036854771712\n")
	write(mem+"sub/memory.usage_in_bytes", "4096\n")
	write(mem+"sub/memory.stat", "total_cache 8192\n")
	write("proc/10/cgroup", "1:memory:/lxc/c1/sub\n")
	write("proc/11/cgroup", "1:memory:/lxc/c2\n")
	write("proc/12/cgroup", "1:memory:/lxc/c1sub\n")
	v, err := New(Options{ProcFS: root + "/proc", MountPrefix: root})
	if err != nil {
		t.Fatal(err)
	}
	for pid, want := range map[int]*Snapshot{
		10: {Memory: &Memory{Limit: Bytes(1 * giB), UsageBytes: 4096, Swappiness: -1, Stat: MemoryStat{CacheBytes: 8192}}},
		11: {},
		12: {},
	} {
		cg, err := v.Cgroups(pid)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, v.Snapshot(cg, all)); diff != "" {
			t.Errorf("pid %d: (-want +got):\n%s", pid, diff)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{ProcFS: t.TempDir()}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing mountinfo: err = %v, want ErrNotExist", err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/self", 0o755); err != nil {
		t.Fatal(err)
	}
	for content, want := range map[string]error{
		"garbage\n":                                 ErrParse,
		"22 21 0:20 / /proc rw - proc proc rw\n":    ErrNoController,
		"24 23 0:22 / /x rw - cgroup2 cgroup2 rw\n": os.ErrNotExist, // no cgroup.controllers
	} {
		if err := os.WriteFile(dir+"/self/mountinfo", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(Options{ProcFS: dir, MountPrefix: dir})
		if !errors.Is(err, want) {
			t.Errorf("mountinfo %q: err = %v, want %v", content, err, want)
		}
	}
}

// TestRealHost runs the view on the machine itself: no assertion on values,
// which depend on the host, but it must find a layout and read our own
// cgroups without error.
func TestRealHost(t *testing.T) {
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		t.Skip("no /proc:", err)
	}
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	cg, err := v.Cgroups(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	s := v.Snapshot(cg, all)
	t.Logf("layout %v, cgroups %+v", v.Layout().Kind, cg)
	if s.Memory != nil {
		t.Logf("memory %+v swap %+v", *s.Memory, s.Memory.Swap)
	}
	if s.CPU != nil {
		t.Logf("cpus %v quota %v", s.CPU.CPUs, s.CPU.QuotaCPUs)
	}
	if s.Usage != nil {
		t.Logf("usage user %d system %d over %d cpus", s.Usage.UserNanos, s.Usage.SystemNanos, len(s.Usage.PerCPU))
	}
	if v.memory != nil && s.Memory == nil && cg.V1["memory"] != "/" {
		t.Errorf("memory controller at %s but no Memory for %+v", v.memory.MountPoint, cg)
	}
}

// TestQuotaOnlyWhenWanted: without WantCPUQuota the quota files are not read,
// so a garbage quota cannot hide the cpuset.
func TestQuotaOnlyWhenWanted(t *testing.T) {
	v, err := New(Options{ProcFS: "testdata/v1/proc", MountPrefix: "testdata/v1"})
	if err != nil {
		t.Fatal(err)
	}
	cg, err := v.Cgroups(1000)
	if err != nil {
		t.Fatal(err)
	}
	with, without := v.Snapshot(cg, WantCPU|WantCPUQuota).CPU, v.Snapshot(cg, WantCPU).CPU
	if with == nil || without == nil || with.QuotaCPUs == 0 || without.QuotaCPUs != 0 || !with.CPUs.Equal(without.CPUs) {
		t.Fatalf("with quota %+v, without %+v; want the same cpuset and a quota only in the first", with, without)
	}
}

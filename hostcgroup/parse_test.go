package hostcgroup

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Membership
		wantErr error
	}{
		{
			name: "hybrid",
			in:   "9:name=systemd:/init.scope\n2:cpu,cpuacct:/lxc/c1\n1:net_cls,net_prio:/\n0::/init.scope\n",
			want: []Membership{
				{HierarchyID: 9, Controllers: []string{"name=systemd"}, Path: "/init.scope"},
				{HierarchyID: 2, Controllers: []string{"cpu", "cpuacct"}, Path: "/lxc/c1"},
				{HierarchyID: 1, Controllers: []string{"net_cls", "net_prio"}, Path: "/"},
				{HierarchyID: 0, Path: "/init.scope"},
			},
		},
		{
			name: "v2 only, no trailing newline",
			in:   "0::/user.slice/user-1000.slice/session-2.scope",
			want: []Membership{{HierarchyID: 0, Path: "/user.slice/user-1000.slice/session-2.scope"}},
		},
		{
			name: "colons and spaces in the path",
			in:   "0::/a:b/c d\n",
			want: []Membership{{HierarchyID: 0, Path: "/a:b/c d"}},
		},
		{
			name: "deleted v2 cgroup",
			in:   "4:memory:/x (deleted)\n0::/lxc/c1 (deleted)\n",
			want: []Membership{
				{HierarchyID: 4, Controllers: []string{"memory"}, Path: "/x (deleted)"},
				{HierarchyID: 0, Path: "/lxc/c1", Deleted: true},
			},
		},
		{
			name: "path outside the reader's cgroup namespace",
			in:   "0::/../../sibling\n",
			want: []Membership{{HierarchyID: 0, Path: "/../../sibling"}},
		},
		{name: "empty", in: "", want: nil},
		{name: "one colon", in: "0:/x\n", wantErr: ErrParse},
		{name: "no colon", in: "garbage\n", wantErr: ErrParse},
		{name: "bad id", in: "x::/\n", wantErr: ErrParse},
		{name: "negative id", in: "-1::/\n", wantErr: ErrParse},
		{name: "relative path", in: "0::x\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcCgroup(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("memberships (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPruneInitScope(t *testing.T) {
	for in, want := range map[string]string{
		"/init.scope":               "/",
		"/lxc/c1/init.scope":        "/lxc/c1",
		"/lxc/c1":                   "/lxc/c1",
		"/lxc/init.scope/x":         "/lxc/init.scope/x",
		"/lxc/notinit.scope":        "/lxc/notinit.scope",
		"/":                         "/",
		"/a/init.scope/init.scope":  "/a/init.scope",
		"/system.slice/init.scopes": "/system.slice/init.scopes",
	} {
		if got := pruneInitScope(in); got != want {
			t.Errorf("pruneInitScope(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Limit
		wantErr error
	}{
		{name: "bytes", in: "536870912", want: Bytes(536870912)},
		{name: "trailing newline", in: "536870912\n", want: Bytes(536870912)},
		{name: "surrounding space", in: "  4096 \n", want: Bytes(4096)},
		{name: "zero is a limit", in: "0\n", want: Bytes(0)},
		{name: "v2 max", in: "max\n", want: NoLimit},
		{name: "v1 quota -1", in: "-1\n", want: NoLimit},
		{name: "v1 unlimited 4k pages", in: "9223372036854771712\n", want: NoLimit},
		{name: "v1 unlimited 64k pages", in: "9223372036854710272\n", want: NoLimit},
		{name: "2^62", in: "4611686018427387904", want: NoLimit},
		{name: "just below 2^62", in: "4611686018427387903", want: Bytes(4611686018427387903)},
		{name: "max uint64", in: "18446744073709551615", want: NoLimit},
		{name: "overflows uint64", in: "18446744073709551616", wantErr: ErrParse},
		{name: "empty file", in: "", wantErr: ErrParse},
		{name: "only newline", in: "\n", wantErr: ErrParse},
		{name: "garbage", in: "lots\n", wantErr: ErrParse},
		{name: "negative", in: "-2\n", wantErr: ErrParse},
		{name: "two values", in: "1 2\n", wantErr: ErrParse},
		{name: "MAX in caps", in: "MAX", wantErr: ErrParse},
		{name: "unit suffix", in: "512M", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLimit([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("limit (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLimitMin(t *testing.T) {
	tests := []struct {
		a, b, want Limit
	}{
		{NoLimit, NoLimit, NoLimit},
		{NoLimit, Bytes(5), Bytes(5)},
		{Bytes(5), NoLimit, Bytes(5)},
		{Bytes(5), Bytes(3), Bytes(3)},
		{Bytes(0), Bytes(3), Bytes(0)},
	}
	for _, tt := range tests {
		if got := tt.a.Min(tt.b); got != tt.want {
			t.Errorf("%v.Min(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseMemoryStatV1(t *testing.T) {
	in := `cache 1
rss 2
rss_huge 3
shmem 4
mapped_file 5
dirty 6
writeback 7
inactive_anon 8
active_anon 9
inactive_file 10
active_file 11
unevictable 12
hierarchical_memory_limit 9223372036854771712
total_cache 101
total_rss 102
total_rss_huge 103
total_shmem 104
total_mapped_file 105
total_dirty 106
total_writeback 107
total_swap 0
total_inactive_anon 108
total_active_anon 109
total_inactive_file 110
total_active_file 111
total_unevictable 112
total_some_future_key 18446744073709551615
`
	tests := []struct {
		name    string
		in      string
		want    MemoryStat
		wantErr error
	}{
		{
			name: "total keys win",
			in:   in,
			want: MemoryStat{
				CacheBytes: 101, RSSBytes: 102, AnonHugeBytes: 103, ShmemBytes: 104,
				MappedBytes: 105, DirtyBytes: 106, WritebackBytes: 107,
				InactiveAnonBytes: 108, ActiveAnonBytes: 109, InactiveFileBytes: 110,
				ActiveFileBytes: 111, UnevictableBytes: 112,
			},
		},
		{name: "only local keys", in: "cache 1\nrss 2\n", want: MemoryStat{}},
		{name: "unknown key with odd value is ignored", in: "total_cache 5\nfoo bar\n", want: MemoryStat{CacheBytes: 5}},
		{name: "empty", in: "", wantErr: ErrParse},
		{name: "key without value", in: "total_cache\ntotal_rss 1\n", wantErr: ErrParse},
		{name: "bad value", in: "total_cache -5\n", wantErr: ErrParse},
		{name: "three fields", in: "total_cache 1 2\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMemoryStatV1([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stat (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMemoryStatV2(t *testing.T) {
	full := `anon 1
file 2
kernel 99
shmem 4
zswap 5
zswapped 6
file_mapped 7
file_dirty 8
file_writeback 9
anon_thp 10
inactive_anon 11
active_anon 12
inactive_file 13
active_file 14
unevictable 15
slab_reclaimable 16
slab_unreclaimable 17
slab 33
total_cache 1000
`
	tests := []struct {
		name    string
		in      string
		want    MemoryStat
		wantErr error
	}{
		{
			name: "6.x kernel",
			in:   full,
			want: MemoryStat{
				RSSBytes: 1, CacheBytes: 2, ShmemBytes: 4, HasZswap: true, ZswapBytes: 5, ZswappedBytes: 6,
				MappedBytes: 7, DirtyBytes: 8, WritebackBytes: 9, AnonHugeBytes: 10,
				InactiveAnonBytes: 11, ActiveAnonBytes: 12, InactiveFileBytes: 13, ActiveFileBytes: 14,
				UnevictableBytes: 15, HasSlab: true, SlabReclaimableBytes: 16, SlabUnreclaimableBytes: 17, SlabBytes: 33,
			},
		},
		{
			name: "no slab, no zswap (old kernel)",
			in:   "anon 1\nfile 2\n",
			want: MemoryStat{RSSBytes: 1, CacheBytes: 2},
		},
		{name: "zswap zero is present", in: "zswap 0\n", want: MemoryStat{HasZswap: true}},
		{name: "empty", in: "", wantErr: ErrParse},
		{name: "garbage", in: "file lots\n", wantErr: ErrParse},
		{name: "only spaces", in: "   \n\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMemoryStatV2([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stat (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCPUAcctUsageAll(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *CPUUsage
		wantErr error
	}{
		{
			name: "two cpus",
			in:   "cpu user system\n0 8652458358 5526818513\n1 11071680108 7145339395\n",
			want: &CPUUsage{
				UserNanos: 8652458358 + 11071680108, SystemNanos: 5526818513 + 7145339395,
				PerCPU: []CPUTime{{8652458358, 5526818513}, {11071680108, 7145339395}},
			},
		},
		{
			name: "indexed by cpu number, not line order",
			in:   "cpu user system\n2 20 2\n0 10 1\n",
			want: &CPUUsage{UserNanos: 30, SystemNanos: 3, PerCPU: []CPUTime{{10, 1}, {}, {20, 2}}},
		},
		{name: "empty", in: "", wantErr: ErrParse},
		{name: "header only", in: "cpu user system\n", wantErr: ErrParse},
		{name: "no header", in: "0 1 2\n", wantErr: ErrParse},
		{name: "short line", in: "cpu user system\n0 1\n", wantErr: ErrParse},
		{name: "garbage value", in: "cpu user system\n0 12 abc\n", wantErr: ErrParse},
		{name: "huge cpu number", in: "cpu user system\n4294967295 1 1\n", wantErr: ErrParse},
		{name: "negative", in: "cpu user system\n0 -1 1\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCPUAcctUsageAll([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCPUAcctUsagePercpu(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *CPUUsage
		wantErr error
	}{
		{
			name: "trailing space and newline, no double counting",
			in:   "14642356830 19143898628 \n",
			want: &CPUUsage{
				UserNanos: 14642356830 + 19143898628,
				PerCPU:    []CPUTime{{UserNanos: 14642356830}, {UserNanos: 19143898628}},
			},
		},
		{name: "empty", in: "\n", wantErr: ErrParse},
		{name: "garbage", in: "1 x\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCPUAcctUsagePercpu([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCPUStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *CPUUsage
		wantErr error
	}{
		{
			name: "with cpu controller",
			in:   "usage_usec 32396296\nuser_usec 19724138\nsystem_usec 12672157\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
			want: &CPUUsage{UserNanos: 19724138000, SystemNanos: 12672157000},
		},
		{
			name: "core keys only",
			in:   "usage_usec 3\nuser_usec 2\nsystem_usec 1\n",
			want: &CPUUsage{UserNanos: 2000, SystemNanos: 1000},
		},
		{name: "missing system", in: "usage_usec 3\nuser_usec 2\n", wantErr: ErrParse},
		{name: "empty", in: "", wantErr: ErrParse},
		{name: "garbage", in: "user_usec x\nsystem_usec 1\n", wantErr: ErrParse},
		{name: "overflows nanoseconds", in: "user_usec 18446744073709552\nsystem_usec 1\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCPUStat([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantQuota  Limit
		wantPeriod uint64
		wantErr    error
	}{
		{name: "no quota", in: "max 100000\n", wantQuota: NoLimit, wantPeriod: 100000},
		{name: "half a cpu", in: "50000 100000\n", wantQuota: Bytes(50000), wantPeriod: 100000},
		{name: "period omitted", in: "max", wantQuota: NoLimit, wantPeriod: 100000},
		{name: "other period", in: "150000 50000", wantQuota: Bytes(150000), wantPeriod: 50000},
		{name: "empty", in: "", wantErr: ErrParse},
		{name: "zero period", in: "50000 0\n", wantErr: ErrParse},
		{name: "garbage quota", in: "lots 100000\n", wantErr: ErrParse},
		{name: "negative quota", in: "-1 100000\n", wantErr: ErrParse},
		{name: "three fields", in: "1 2 3\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, p, err := ParseCPUMax([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if q != tt.wantQuota || p != tt.wantPeriod {
				t.Errorf("got %v %d, want %v %d", q, p, tt.wantQuota, tt.wantPeriod)
			}
		})
	}
}

func TestParseCPUSet(t *testing.T) {
	// The first five rows are lxcfs's tests/cpusetrange.c.
	tests := []struct {
		in     string
		has    []int
		hasNot []int
		str    string
	}{
		{in: "1,2", has: []int{1, 2}, hasNot: []int{4}, str: "1-2"},
		{in: "1-3,5", has: []int{1, 5}, hasNot: []int{4}, str: "1-3,5"},
		{in: "1,4-5", has: []int{1, 5}, hasNot: []int{6}, str: "1,4-5"},
		{in: "", hasNot: []int{6}, str: ""},
		{in: "\n", hasNot: []int{6}, str: ""},
		{in: "0-3\n", has: []int{0, 3}, hasNot: []int{4, -1}, str: "0-3"},
		{in: "7,0-2,4", has: []int{0, 4, 7}, hasNot: []int{3, 5, 6}, str: "0-2,4,7"},
		{in: "3-3", has: []int{3}, hasNot: []int{2}, str: "3"},
		{in: "0,2,4", has: []int{0, 2, 4}, hasNot: []int{1}, str: "0,2,4"},
		{in: "63-64,127-128", has: []int{63, 64, 128}, hasNot: []int{65}, str: "63-64,127-128"},
		{in: "65535", has: []int{65535}, hasNot: []int{0}, str: "65535"},
		{in: "1,1,1", has: []int{1}, str: "1"},
	}
	for _, tt := range tests {
		set, err := ParseCPUSet(tt.in)
		if err != nil {
			t.Errorf("ParseCPUSet(%q): %v", tt.in, err)
			continue
		}
		for _, n := range tt.has {
			if !set.Contains(n) {
				t.Errorf("ParseCPUSet(%q) lacks %d", tt.in, n)
			}
		}
		for _, n := range tt.hasNot {
			if set.Contains(n) {
				t.Errorf("ParseCPUSet(%q) contains %d", tt.in, n)
			}
		}
		if got := set.String(); got != tt.str {
			t.Errorf("ParseCPUSet(%q).String() = %q, want %q", tt.in, got, tt.str)
		}
	}
	for _, bad := range []string{"3-1", "x", "1,,2", "1-", "-1", "0-65536", "65536", "1 2", "0-x", ",", "1-2-3"} {
		if _, err := ParseCPUSet(bad); !errors.Is(err, ErrParse) {
			t.Errorf("ParseCPUSet(%q) err = %v, want ErrParse", bad, err)
		}
	}
}

package proc

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

func cpus(t *testing.T, s string) hostcgroup.CPUSet {
	t.Helper()
	set, err := hostcgroup.ParseCPUSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestNewCPUView(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cpuset string // "-" for a nil *CPU
		quota  float64
		online string
		opt    Options
		want   CPUView
	}{
		{name: "no cpu controller", cpuset: "-", online: "0-3", want: CPUView{Host: []int{0, 1, 2, 3}}},
		{name: "no cpu controller under cfs keeps host numbers", cpuset: "-", online: "0,2-3", opt: Options{CFS: true}, want: CPUView{Host: []int{0, 2, 3}}},
		{name: "empty cpuset", cpuset: "", online: "0-1", want: CPUView{Host: []int{0, 1}}},
		{name: "cpuset", cpuset: "1,3", online: "0-3", want: CPUView{Host: []int{1, 3}}},
		{name: "cpuset partly offline", cpuset: "1-5", online: "0-3", want: CPUView{Host: []int{1, 2, 3}}},
		{name: "cpuset all offline", cpuset: "6-7", online: "0-3", want: CPUView{Host: []int{0, 1, 2, 3}}},
		{name: "host online unknown", cpuset: "2-3", online: "", want: CPUView{Host: []int{2, 3}}},
		{name: "quota without cfs", cpuset: "0-3", quota: 0.5, online: "0-3", want: CPUView{Host: []int{0, 1, 2, 3}}},
		{name: "cfs quota 0.5 on 0-1", cpuset: "0-1", quota: 0.5, online: "0-1", opt: Options{CFS: true}, want: CPUView{Host: []int{0}, Renumber: true}},
		{name: "cfs quota 1", cpuset: "2-3", quota: 1, online: "0-3", opt: Options{CFS: true}, want: CPUView{Host: []int{2}, Renumber: true}},
		{name: "cfs quota 1.5", cpuset: "1-3", quota: 1.5, online: "0-3", opt: Options{CFS: true}, want: CPUView{Host: []int{1, 2}, Renumber: true}},
		{name: "cfs quota above cpuset", cpuset: "1,3", quota: 7.5, online: "0-3", opt: Options{CFS: true}, want: CPUView{Host: []int{1, 3}, Renumber: true}},
		{name: "cfs tiny quota", cpuset: "1-3", quota: 1e-9, online: "0-3", opt: Options{CFS: true}, want: CPUView{Host: []int{1}, Renumber: true}},
		{name: "cfs no quota renumbers", cpuset: "1,3", online: "0-3", opt: Options{CFS: true}, want: CPUView{Host: []int{1, 3}, Renumber: true}},
		{name: "cfs NaN quota", cpuset: "0-3", quota: math.NaN(), online: "0-3", opt: Options{CFS: true}, want: CPUView{Host: []int{0, 1, 2, 3}, Renumber: true}},
		{name: "cfs infinite quota", cpuset: "0-3", quota: math.Inf(1), online: "0-3", opt: Options{CFS: true}, want: CPUView{Host: []int{0, 1, 2, 3}, Renumber: true}},
		{name: "cfs negative quota", cpuset: "0-3", quota: -1, online: "0-3", opt: Options{CFS: true}, want: CPUView{Host: []int{0, 1, 2, 3}, Renumber: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cpu *hostcgroup.CPU
			if tc.cpuset != "-" {
				cpu = &hostcgroup.CPU{CPUs: cpus(t, tc.cpuset), QuotaCPUs: tc.quota}
			}
			got := NewCPUView(cpu, cpus(t, tc.online), tc.opt)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCPUList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    CPUView
		want string
	}{
		{CPUView{Host: []int{0}}, "0\n"},
		{CPUView{Host: []int{1}}, "1\n"},
		{CPUView{Host: []int{0, 1, 2, 3}}, "0-3\n"},
		{CPUView{Host: []int{0, 2, 3}}, "0,2-3\n"},
		{CPUView{Host: []int{1, 3, 5, 6, 7, 9}}, "1,3,5-7,9\n"},
		{CPUView{Host: []int{2}, Renumber: true}, "0\n"},
		{CPUView{Host: []int{2, 5}, Renumber: true}, "0-1\n"},
		{CPUView{Host: []int{4, 5, 6, 9}, Renumber: true}, "0-3\n"},
		{CPUView{}, "\n"},
		{CPUView{Renumber: true}, "0\n"},
	} {
		if got := string(CPUList(nil, tc.v)); got != tc.want {
			t.Errorf("CPUList(%+v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestNsToTicks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ns, hz, want uint64 }{
		{0, 100, 0},
		{9_999_999, 100, 0},
		{10_000_000, 100, 1},
		{165_000_000, 100, 16},
		{1_999_999_999, 100, 199},
		{1 << 63, 100, 922337203685}, // 292 CPU-years: no overflow
		{math.MaxUint64, 100, 1844674407370},
		{math.MaxUint64, 1e12, math.MaxUint64}, // saturates
		{1_000_000, 1000, 1},
	} {
		if got := nsToTicks(tc.ns, tc.hz); got != tc.want {
			t.Errorf("nsToTicks(%d, %d) = %d, want %d", tc.ns, tc.hz, got, tc.want)
		}
	}
}

func TestUptime(t *testing.T) {
	t.Parallel()
	usage := &hostcgroup.CPUUsage{UserNanos: 1_500_000_000, SystemNanos: 500_000_000}
	for _, tc := range []struct {
		name string
		host string
		in   UptimeInput
		want string
	}{
		{"kernel format", "209.66 383.86\n", UptimeInput{InitStartTicks: 9966, ClockTicks: 100, VisibleCPUs: 2, Usage: usage}, "110.00 218.00\n"},
		{"no usage", "209.66 383.86\n", UptimeInput{InitStartTicks: 9966, ClockTicks: 100, VisibleCPUs: 1}, "110.00 110.00\n"},
		{"host init", "209.66 383.86\n", UptimeInput{ClockTicks: 100, VisibleCPUs: 1}, "209.66 209.66\n"},
		{"usage above age x cpus", "10.00 5.00\n", UptimeInput{ClockTicks: 100, VisibleCPUs: 1, Usage: &hostcgroup.CPUUsage{UserNanos: 20e9}}, "10.00 0.00\n"},
		{"init started after the host's uptime", "10.00 5.00\n", UptimeInput{InitStartTicks: 5000, ClockTicks: 100, VisibleCPUs: 1}, "0.00 0.00\n"},
		{"zero clock ticks means 100", "10.00 5.00\n", UptimeInput{InitStartTicks: 500, VisibleCPUs: 1}, "5.00 5.00\n"},
		{"zero visible CPUs counts one", "10.00 5.00\n", UptimeInput{ClockTicks: 100}, "10.00 10.00\n"},
		{"1000 Hz", "10.00 5.00\n", UptimeInput{InitStartTicks: 2500, ClockTicks: 1000, VisibleCPUs: 4}, "7.50 30.00\n"},
		{"integer uptime", "12 3\n", UptimeInput{ClockTicks: 100, VisibleCPUs: 1}, "12.00 12.00\n"},
		{"one field, no newline", "12.5", UptimeInput{ClockTicks: 100, VisibleCPUs: 1}, "12.50 12.50\n"},
		{"garbage", "up 12.5\n", UptimeInput{ClockTicks: 100}, "up 12.5\n"},
		{"empty", "", UptimeInput{ClockTicks: 100}, ""},
		{"negative", "-12.5 3\n", UptimeInput{ClockTicks: 100}, "-12.5 3\n"},
		{"exponent", "1e5 3\n", UptimeInput{ClockTicks: 100}, "1e5 3\n"},
		{"trailing junk", "12.5x 3\n", UptimeInput{ClockTicks: 100}, "12.5x 3\n"},
		{"huge", strings.Repeat("9", 400) + " 1\n", UptimeInput{ClockTicks: 100}, strings.Repeat("9", 400) + " 1\n"},
		{"fractional quota: idle against the quota", "209.66 383.86\n", UptimeInput{InitStartTicks: 9966, ClockTicks: 100, VisibleCPUs: 1, QuotaCPUs: 0.5, Usage: usage}, "110.00 53.00\n"},
		{"quota above the CPUs", "209.66 383.86\n", UptimeInput{InitStartTicks: 9966, ClockTicks: 100, VisibleCPUs: 2, QuotaCPUs: 3, Usage: usage}, "110.00 218.00\n"},
		{"time namespace: the kernel's boot, not the init's", "209.66 383.86\n",
			UptimeInput{InitStartTicks: 9966, ClockTicks: 100, VisibleCPUs: 1, TimeNS: &TimeNS{BoottimeOffsetNanos: -200e9}}, "9.66 9.66\n"},
		{"time namespace booted before the host", "209.66 383.86\n",
			UptimeInput{InitStartTicks: 9966, ClockTicks: 100, VisibleCPUs: 1, TimeNS: &TimeNS{BoottimeOffsetNanos: 1000e9}}, "1209.66 1209.66\n"},
		{"time namespace offset beyond the uptime", "209.66 383.86\n",
			UptimeInput{ClockTicks: 100, VisibleCPUs: 1, TimeNS: &TimeNS{BoottimeOffsetNanos: -300e9}}, "0.00 0.00\n"},
	} {
		if got := string(Uptime(nil, []byte(tc.host), tc.in)); got != tc.want {
			t.Errorf("%s: Uptime(%q, %+v) = %q, want %q", tc.name, tc.host, tc.in, got, tc.want)
		}
	}
}

func TestStatSpreadWithEmptyView(t *testing.T) {
	t.Parallel()
	// An empty view shows every CPU of the host file, so v2 totals are
	// spread over all of them.
	host := "cpu  0 0 0 300 0 0 0 0 0 0\ncpu0 0 0 0 100 0 0 0 0 0 0\ncpu1 0 0 0 100 0 0 0 0 0 0\ncpu2 0 0 0 100 0 0 0 0 0 0\nctxt 1\n"
	got := string(Stat(nil, []byte(host), StatInput{Usage: &hostcgroup.CPUUsage{UserNanos: 50_000_000, SystemNanos: 10_000_000}, ClockTicks: 100}))
	want := "cpu  5 0 1 300 0 0 0 0 0 0\ncpu0 2 0 1 100 0 0 0 0 0 0\ncpu1 2 0 0 100 0 0 0 0 0 0\ncpu2 1 0 0 100 0 0 0 0 0 0\nctxt 1\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStatOddLines(t *testing.T) {
	t.Parallel()
	v := CPUView{Host: []int{0, 1}}
	for _, tc := range []struct {
		name, host, want string
		usage            *hostcgroup.CPUUsage
	}{
		{
			name: "no cpu line at all",
			host: "intr 1\nctxt 2\n",
			want: "intr 1\nctxt 2\n",
		},
		{
			name: "empty",
		},
		{
			name: "aggregate only",
			host: "cpu  1 2 3 4 5 6 7 8 9 10\nctxt 2\n",
			want: "cpu  1 2 3 4 5 6 7 8 9 10\nctxt 2\n", // nothing to change
		},
		{
			name:  "aggregate only, usage",
			host:  "cpu  1 2 3 4 5 6 7 8 9 10\nctxt 2\n",
			usage: &hostcgroup.CPUUsage{},
			want:  "cpu  1 2 3 4 5 6 7 8 9 10\nctxt 2\n",
		},
		{
			name: "aggregate after the cpu lines, dropped CPU",
			host: "cpu0 1 0 0 5 0 0 0 0 0 0\ncpu2 1 0 0 5 0 0 0 0 0 0\ncpu  2 0 0 10 0 0 0 0 0 0\n",
			want: "cpu  1 0 0 5 0 0 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0 0 0\n",
		},
		{
			name: "old kernel with 8 columns",
			host: "cpu  2 0 0 10 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0\ncpu2 1 0 0 5 0 0 0 0\n",
			want: "cpu  1 0 0 5 0 0 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0\n",
		},
		{
			name: "future kernel with 11 columns",
			host: "cpu  2 0 0 10 0 0 0 0 0 0 4\ncpu0 1 0 0 5 0 0 0 0 0 0 2\ncpu2 1 0 0 5 0 0 0 0 0 0 2\n",
			want: "cpu  1 0 0 5 0 0 0 0 0 0 2\ncpu0 1 0 0 5 0 0 0 0 0 0 2\n",
		},
		{
			name:  "usage: host busier than the container is not",
			host:  "cpu  1 0 0 5 0 0 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0 0 0\n",
			usage: &hostcgroup.CPUUsage{PerCPU: []hostcgroup.CPUTime{{UserNanos: 90_000_000}}},
			want:  "cpu  9 0 0 5 0 0 0 0 0 0\ncpu0 9 0 0 5 0 0 0 0 0 0\n",
		},
		{
			name:  "usage: CPU beyond cpuacct's list used nothing",
			host:  "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0 0 0\ncpu1 2 0 0 5 0 0 0 0 0 0\n",
			usage: &hostcgroup.CPUUsage{PerCPU: []hostcgroup.CPUTime{{UserNanos: 10_000_000}}},
			want:  "cpu  1 0 0 12 0 0 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0 0 0\ncpu1 0 0 0 7 0 0 0 0 0 0\n",
		},
		{
			name:  "no trailing newline",
			host:  "cpu  1 0 0 5 0 0 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0 0 0",
			usage: &hostcgroup.CPUUsage{PerCPU: []hostcgroup.CPUTime{{}}},
			want:  "cpu  0 0 0 6 0 0 0 0 0 0\ncpu0 0 0 0 6 0 0 0 0 0 0\n",
		},
		{
			name: "blank lines and CRs survive",
			host: "\ncpu  1 0 0 5 0 0 0 0 0 0\r\ncpu0 1 0 0 5 0 0 0 0 0 0\ncpu9 1\n\nctxt 1\r\n",
			want: "\ncpu  1 0 0 5 0 0 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0 0 0\n\nctxt 1\r\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Stat(nil, []byte(tc.host), StatInput{View: v, Usage: tc.usage, ClockTicks: 100}))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMeminfoOdd(t *testing.T) {
	t.Parallel()
	limited := &hostcgroup.Memory{Limit: hostcgroup.Bytes(64 << 20), UsageBytes: 16 << 20, Swappiness: -1}
	unlimited := &hostcgroup.Memory{Limit: hostcgroup.NoLimit, UsageBytes: 16 << 20, Swappiness: -1}
	for _, tc := range []struct {
		name string
		host string
		mem  *hostcgroup.Memory
		want string
	}{
		{"empty host", "", limited, ""},
		{"no MemTotal, unlimited: host copy", "MemFree: 5 kB\n", unlimited, "MemFree: 5 kB\n"},
		{"no MemTotal, limited", "MemFree: 5 kB\n", limited, "MemFree:           49152 kB\n"},
		{"garbage MemTotal, unlimited: host copy", "MemTotal: x kB\nMemFree: 5 kB\n", unlimited, "MemTotal: x kB\nMemFree: 5 kB\n"},
		{"limit above host", "MemTotal: 32768 kB\nMemFree: 5 kB\n", limited, "MemTotal:          32768 kB\nMemFree:           16384 kB\n"},
		{"zero limit", "MemTotal: 32768 kB\nMemFree: 5 kB\nMemAvailable: 5 kB\n", &hostcgroup.Memory{Limit: hostcgroup.Bytes(0), Swappiness: -1}, "MemTotal:              0 kB\nMemFree:               0 kB\nMemAvailable:          0 kB\n"},
		{"no trailing newline", "MemTotal: 32768 kB\nHugepagesize: 2048 kB", limited, "MemTotal:          32768 kB\nHugepagesize: 2048 kB"},
		{"rewritten last line gets a newline", "Hugepagesize: 2048 kB\nMemTotal: 32768 kB", limited, "Hugepagesize: 2048 kB\nMemTotal:          32768 kB\n"},
		{"an unknown kB line without a newline is 0", "MemTotal: 32768 kB\nNewThing: 5 kB", limited, "MemTotal:          32768 kB\nNewThing:              0 kB\n"},
		{"an unknown count is kept", "MemTotal: 32768 kB\nNewCount: 5\n", limited, "MemTotal:          32768 kB\nNewCount: 5\n"},
		{"label with a blank is not a label", "Mem Total: 1 kB\n", limited, "Mem Total: 1 kB\n"},
		{"long label", "AVeryLongLabelIndeed: 1 kB\nBuffers: 1 kB\n", limited, "AVeryLongLabelIndeed:       0 kB\nBuffers:               0 kB\n"},
	} {
		if got := string(Meminfo(nil, []byte(tc.host), tc.mem, Options{})); got != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestSwapsHeader(t *testing.T) {
	t.Parallel()
	mem := &hostcgroup.Memory{Limit: hostcgroup.NoLimit, Swappiness: 60, Swap: &hostcgroup.Swap{Limit: hostcgroup.Bytes(1 << 30), UsageBytes: 1 << 20}}
	meminfo := []byte("SwapTotal:       2097148 kB\n")
	for _, tc := range []struct{ host, want string }{
		{"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/vda2 partition 2097148 0 -2\n", swapsHeader},
		{"Filename Type Size Used Priority", "Filename Type Size Used Priority\n"},
		{"", swapsHeader},
		{"/dev/vda2 partition 2097148 0 -2\n", swapsHeader},
	} {
		got := string(Swaps(nil, []byte(tc.host), meminfo, mem, Options{}))
		want := tc.want + "none" + strings.Repeat(" ", 36) + "virtual\t\t1048576\t1024\t0\n"
		if got != want {
			t.Errorf("host %q:\ngot  %q\nwant %q", tc.host, got, want)
		}
	}
}

func TestCPUInfoOdd(t *testing.T) {
	t.Parallel()
	v := CPUView{Host: []int{1}}
	for _, tc := range []struct{ name, host, want string }{
		{"no processor line: host copy", "cpu\t\t: UltraSparc\nncpus active\t: 4\n", "cpu\t\t: UltraSparc\nncpus active\t: 4\n"},
		{"empty", "", ""},
		{"mips double tab", "processor\t\t: 0\na\n\nprocessor\t\t: 1\nb\n\n", "processor\t: 0\nb\n\n"},
		{"no blanks", "processor:0\na\nprocessor:1\nb\n", "processor\t: 0\nb\n"},
		{"cpu not in host file", "processor\t: 0\na\n", ""},
		{"# processors dropped", "processor\t: 1\n# processors: 4\nb\n", "processor\t: 0\nb\n"},
		{"processor without number is a plain line", "processor\t: 1\nprocessor\t: x\nb\n", "processor\t: 0\nprocessor\t: x\nb\n"},
	} {
		if got := string(CPUInfo(nil, []byte(tc.host), v)); got != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestSlabinfo(t *testing.T) {
	t.Parallel()
	host := []byte("slabinfo - version: 2.1\nhost\n")
	if got := string(Slabinfo([]byte("x"), host, nil)); got != "x"+string(host) {
		t.Errorf("Slabinfo without cgroup content = %q", got)
	}
	if got := string(Slabinfo(nil, host, []byte{})); got != string(host) {
		t.Errorf("Slabinfo with empty cgroup content = %q", got)
	}
	if got := string(Slabinfo(nil, host, []byte("cg\n"))); got != "cg\n" {
		t.Errorf("Slabinfo with cgroup content = %q", got)
	}
}

func TestStatBtime(t *testing.T) {
	t.Parallel()
	host := "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 10 0 10 100 0 0 0 0 0 0\nintr 5\nbtime 1700000000\nprocesses 9\n"
	for _, tc := range []struct {
		name string
		boot *Boot
		want string
	}{
		{"no boot keeps the host's", nil, "1700000000"},
		{"container init at 123.45 s", &Boot{InitStartTicks: 12345, ClockTicks: 100}, "1700000123"},
		{"host init", &Boot{ClockTicks: 100}, "1700000000"},
		{"zero clock ticks means 100", &Boot{InitStartTicks: 500}, "1700000005"},
		{"time namespace booted 1 h after the host", &Boot{InitStartTicks: 12345, ClockTicks: 100, TimeNS: &TimeNS{BoottimeOffsetNanos: -3600e9}}, "1700003600"},
		{"time namespace, fraction rounds down", &Boot{TimeNS: &TimeNS{BoottimeOffsetNanos: -3600_500_000_000}}, "1700003600"},
		{"time namespace booted before the host", &Boot{TimeNS: &TimeNS{BoottimeOffsetNanos: 100_200_000_000}}, "1699999899"},
		{"time namespace before the epoch saturates", &Boot{TimeNS: &TimeNS{BoottimeOffsetNanos: 1 << 62}}, "0"},
	} {
		got := string(Stat(nil, []byte(host), StatInput{Boot: tc.boot, ClockTicks: 100}))
		if !strings.Contains(got, "\nbtime "+tc.want+"\n") {
			t.Errorf("%s: btime line of\n%s\nwant btime %s", tc.name, got, tc.want)
		}
		if !strings.Contains(got, "\nprocesses 9\n") || !strings.Contains(got, "\nintr 5\n") {
			t.Errorf("%s: other lines changed:\n%s", tc.name, got)
		}
	}
	// A btime line that does not parse is kept.
	odd := "cpu  1 0 1 1\ncpu0 1 0 1 1\nbtime soon\nbtime 12 13\n"
	got := string(Stat(nil, []byte(odd), StatInput{Boot: &Boot{InitStartTicks: 1000, ClockTicks: 100}}))
	if !strings.Contains(got, "btime soon\nbtime 12 13\n") {
		t.Errorf("unparseable btime lines changed:\n%s", got)
	}
}

// TestBootAgrees: whatever the boot, btime + uptime is the host's btime +
// uptime, less at most the second the kernel's btime drops, so tools that
// take now - uptime and those that read btime see the same boot.
func TestBootAgrees(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(19, 2))
	for i := range iterations {
		hostBtime := uint64(1_600_000_000 + r.IntN(1e8))
		hostUp := float64(r.IntN(1e8)) / 100
		b := Boot{ClockTicks: 100}
		if r.IntN(2) == 0 {
			b.InitStartTicks = uint64(r.Float64() * hostUp * 100)
		} else {
			b.TimeNS = &TimeNS{BoottimeOffsetNanos: -int64(r.Float64() * hostUp * 1e9)}
		}
		up := b.Uptime(hostUp)
		bt := b.Btime(hostBtime)
		now := float64(hostBtime) + hostUp
		if d := now - (float64(bt) + up); d < -1e-6 || d > 1+1e-6 {
			t.Fatalf("case %d: %+v (ns %+v): btime %d + uptime %.2f is %.2f s from the host's now %.2f", i, b, b.TimeNS, bt, up, d, now)
		}
		if up < 0 || up > hostUp {
			t.Fatalf("case %d: uptime %.2f outside [0, host %.2f]", i, up, hostUp)
		}
	}
}

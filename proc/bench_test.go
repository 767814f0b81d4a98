package proc

import (
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// benchInputs are realistic inputs: this machine's files with a v1 container
// on CPU 1 of 2, and the 4-CPU host under --enable-cfs.
type benchInputs struct {
	meminfo, swaps, cpuinfo, stat, uptime []byte
	mem                                   *hostcgroup.Memory
	statIn                                StatInput
	uptimeIn                              UptimeInput
	view                                  CPUView
	cpu                                   *hostcgroup.CPU
	online                                hostcgroup.CPUSet
}

func newBenchInputs(tb testing.TB) benchInputs {
	tb.Helper()
	online, err := hostcgroup.ParseCPUSet("0-3")
	if err != nil {
		tb.Fatal(err)
	}
	cpuset, _ := hostcgroup.ParseCPUSet("1-3")
	cpu := &hostcgroup.CPU{CPUs: cpuset, QuotaCPUs: 1.5}
	view := NewCPUView(cpu, online, Options{CFS: true})
	usage := &hostcgroup.CPUUsage{PerCPU: []hostcgroup.CPUTime{{}, {UserNanos: 4e9, SystemNanos: 1e9}, {UserNanos: 3e9}, {}}}
	return benchInputs{
		meminfo: fixture(tb, "v1-limited", "proc/meminfo"),
		swaps:   fixture(tb, "v1-limited", "proc/swaps"),
		cpuinfo: fixture(tb, "cfs-1.5", "proc/cpuinfo"),
		stat:    fixture(tb, "cfs-1.5", "proc/stat"),
		uptime:  fixture(tb, "v1-limited", "proc/uptime"),
		mem: &hostcgroup.Memory{
			Limit: hostcgroup.Bytes(256 << 20), UsageBytes: 60 << 20, Swappiness: 60,
			Swap: &hostcgroup.Swap{Limit: hostcgroup.Bytes(256 << 20), UsageBytes: 10 << 20},
			Stat: hostcgroup.MemoryStat{CacheBytes: 60 << 20, ActiveAnonBytes: 20 << 20, ActiveFileBytes: 30 << 20},
		},
		statIn:   StatInput{View: view, Usage: usage, ClockTicks: 100},
		uptimeIn: UptimeInput{InitStartTicks: 3000, ClockTicks: 100, VisibleCPUs: len(view.Host), Usage: usage},
		view:     view,
		cpu:      cpu,
		online:   online,
	}
}

// renderers lists each renderer as a closure over benchInputs.
func (in *benchInputs) renderers() map[string]func(dst []byte) []byte {
	return map[string]func([]byte) []byte{
		"Meminfo": func(dst []byte) []byte { return Meminfo(dst, in.meminfo, in.mem, Options{}) },
		"Swaps":   func(dst []byte) []byte { return Swaps(dst, in.swaps, in.meminfo, in.mem, Options{}) },
		"CPUInfo": func(dst []byte) []byte { return CPUInfo(dst, in.cpuinfo, in.view) },
		"Stat":    func(dst []byte) []byte { return Stat(dst, in.stat, in.statIn) },
		"Uptime":  func(dst []byte) []byte { return Uptime(dst, in.uptime, in.uptimeIn) },
		"CPUList": func(dst []byte) []byte { return CPUList(dst, in.view) },
	}
}

// TestRenderersDoNotAllocate: with a dst that has room, rendering allocates
// nothing, so a busy daemon reusing its buffers makes no garbage.
func TestRenderersDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	in := newBenchInputs(t)
	for name, render := range in.renderers() {
		dst := make([]byte, 0, 64<<10)
		if n := testing.AllocsPerRun(100, func() { dst = render(dst[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per render", name, n)
		}
	}
}

func bench(b *testing.B, name string) {
	in := newBenchInputs(b)
	render := in.renderers()[name]
	dst := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		dst = render(dst[:0])
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkMeminfo(b *testing.B) { bench(b, "Meminfo") }
func BenchmarkSwaps(b *testing.B)   { bench(b, "Swaps") }
func BenchmarkCPUInfo(b *testing.B) { bench(b, "CPUInfo") }
func BenchmarkStat(b *testing.B)    { bench(b, "Stat") }
func BenchmarkUptime(b *testing.B)  { bench(b, "Uptime") }
func BenchmarkCPUList(b *testing.B) { bench(b, "CPUList") }

// BenchmarkNewCPUView allocates: the view's CPU list is new for each read.
func BenchmarkNewCPUView(b *testing.B) {
	in := newBenchInputs(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = NewCPUView(in.cpu, in.online, Options{CFS: true})
	}
}

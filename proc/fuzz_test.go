package proc

import (
	"bytes"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// The fuzz targets feed arbitrary host files to the renderers: they must not
// panic, and what they promise about their output must hold. The seeds run
// with every go test; go test -fuzz=FuzzX explores further.

func FuzzMeminfo(f *testing.F) {
	f.Add(fixture(f, "v2-limited", "proc/meminfo"), uint64(64<<20), false, uint64(40<<20), uint64(1<<30), uint64(5<<20), 60, true)
	f.Add(fixture(f, "odd-garbage", "proc/meminfo"), uint64(0), true, uint64(1<<40), uint64(0), uint64(0), 0, false)
	f.Add([]byte("MemTotal: 1\nSwapTotal: 1\nMemFree"), uint64(1), false, uint64(1<<62), uint64(1<<62), uint64(1<<63), -1, true)
	f.Fuzz(func(t *testing.T, host []byte, limit uint64, unlimited bool, usage, swapLimit, swapUsage uint64, swappiness int, swap bool) {
		mem := &hostcgroup.Memory{
			Limit:      hostcgroup.Limit{Value: limit, Unlimited: unlimited},
			UsageBytes: usage,
			Swappiness: swappiness,
			Stat: hostcgroup.MemoryStat{
				ActiveFileBytes: usage, InactiveFileBytes: limit, HasSlab: true, SlabReclaimableBytes: swapUsage,
				ActiveAnonBytes: swapLimit, ShmemBytes: usage,
			},
		}
		if swap {
			mem.Swap = &hostcgroup.Swap{Limit: hostcgroup.Bytes(swapLimit), UsageBytes: swapUsage}
		}
		got := Meminfo(nil, host, mem, Options{})
		if n, m := bytes.Count(got, []byte("\n")), bytes.Count(host, []byte("\n")); n != m && n != m+1 {
			t.Fatalf("%d lines from %d", n, m)
		}
		h := scanMeminfo(got, true)
		v, ok := newMemView(scanMeminfo(host, true), mem, Options{})
		if ok && h.hasTotal && h.totalKB != v.totalKB {
			t.Fatalf("MemTotal %d, computed %d", h.totalKB, v.totalKB)
		}
		if v.freeKB > v.totalKB || v.availKB > v.totalKB || v.swapFreeKB > v.swapTotalKB {
			t.Fatalf("inconsistent view %+v", v)
		}
		swaps := Swaps(nil, nil, host, mem, Options{})
		if !bytes.HasPrefix(swaps, []byte(swapsHeader)) {
			t.Fatalf("swaps %q", swaps)
		}
	})
}

func FuzzStat(f *testing.F) {
	f.Add(fixture(f, "cpuset-4cpu", "proc/stat"), "1,3", uint8(1), false)
	f.Add(fixture(f, "odd-garbage", "proc/stat"), "0-3", uint8(2), true)
	f.Add([]byte("cpu\ncpu0\ncpu1 1 2 3 4\ncpu99999999999999999999 1\n"), "0-1", uint8(0), true)
	f.Fuzz(func(t *testing.T, host []byte, set string, usageKind uint8, renumber bool) {
		s, err := hostcgroup.ParseCPUSet(set)
		if err != nil || s.Count() > 256 {
			return
		}
		in := StatInput{View: CPUView{Host: s.CPUs(), Renumber: renumber}, ClockTicks: 100,
			Boot: &Boot{ClockTicks: 100}}
		switch usageKind % 3 {
		case 1:
			in.Usage = &hostcgroup.CPUUsage{PerCPU: []hostcgroup.CPUTime{{UserNanos: 1e9}, {SystemNanos: 1 << 63}, {}}}
		case 2:
			in.Usage = &hostcgroup.CPUUsage{UserNanos: 1 << 63, SystemNanos: 12345678901}
		}
		got := Stat(nil, host, in)
		// Every line that is not a cpu line is the host's, in order.
		var want, have [][]byte
		for _, l := range bytes.SplitAfter(host, []byte("\n")) {
			if k, _, _ := classifyStatLine(l); k == otherLine && len(l) > 0 {
				want = append(want, l)
			}
		}
		for _, l := range bytes.SplitAfter(got, []byte("\n")) {
			if k, _, _ := classifyStatLine(l); k == otherLine && len(l) > 0 {
				have = append(have, l)
			}
		}
		if len(want) != len(have) {
			t.Fatalf("%d other lines, host has %d", len(have), len(want))
		}
		for i := range want {
			if !bytes.Equal(want[i], have[i]) {
				t.Fatalf("line %q became %q", want[i], have[i])
			}
		}
	})
}

func FuzzCPUInfo(f *testing.F) {
	f.Add(fixture(f, "cpuset-4cpu", "proc/cpuinfo"), "1,3")
	f.Add(fixture(f, "s390x", "proc/cpuinfo"), "1-2")
	f.Add(fixture(f, "odd-garbage", "proc/cpuinfo"), "0")
	f.Fuzz(func(t *testing.T, host []byte, set string) {
		s, err := hostcgroup.ParseCPUSet(set)
		if err != nil || s.Count() > 256 {
			return
		}
		v := CPUView{Host: s.CPUs()}
		got := CPUInfo(nil, host, v)
		// Never more processors than the host file has; a duplicated one
		// is kept twice, as the host shows it.
		if n, m := bytes.Count(append([]byte("\n"), got...), []byte("\nprocessor")), bytes.Count(append([]byte("\n"), host...), []byte("\nprocessor")); n > m {
			t.Fatalf("%d processors from %d", n, m)
		}
	})
}

func FuzzUptime(f *testing.F) {
	f.Add([]byte("209.66 383.86\n"), uint64(100), 2)
	f.Add([]byte("1e308 1"), uint64(0), 0)
	f.Add([]byte("99999999999999999999.99999999999999999999"), uint64(1<<63), -5)
	f.Fuzz(func(t *testing.T, host []byte, start uint64, cpus int) {
		in := UptimeInput{InitStartTicks: start, ClockTicks: 100, VisibleCPUs: cpus, Usage: &hostcgroup.CPUUsage{UserNanos: start}}
		got := Uptime(nil, host, in)
		if bytes.Equal(got, host) {
			return
		}
		age, end, ok := parseUint(got, 0)
		_ = age
		if !ok || end >= len(got) || got[end] != '.' || got[len(got)-1] != '\n' || bytes.IndexByte(got, '-') >= 0 {
			t.Fatalf("uptime %q", got)
		}
	})
}

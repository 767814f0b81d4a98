package proc

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// Fuzz targets for the renderers FuzzMeminfo and friends leave out: swaps
// with an arbitrary host /proc/swaps, the cpu lists, loadavg and pressure.

func FuzzSwaps(f *testing.F) {
	f.Add([]byte(swapsHeader+"/dev/vda2 partition\t2097148\t0\t-2\n"), []byte("MemTotal: 100 kB\nSwapTotal: 2097148 kB\n"), uint64(1<<30), uint64(1<<20), 60)
	f.Add([]byte(""), []byte("SwapTotal: x kB\n"), uint64(0), uint64(1<<63), 0)
	f.Add([]byte("Filename"), []byte("SwapTotal:99999999999999999999 kB"), uint64(1<<62), uint64(0), -1)
	f.Fuzz(func(t *testing.T, swaps, meminfo []byte, limit, usage uint64, swappiness int) {
		mem := &hostcgroup.Memory{Limit: hostcgroup.Bytes(limit), UsageBytes: usage, Swappiness: swappiness,
			Swap: &hostcgroup.Swap{Limit: hostcgroup.Bytes(limit / 2), UsageBytes: usage}}
		got := Swaps(nil, swaps, meminfo, mem, Options{})
		lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
		if len(lines) > 2 || !strings.HasPrefix(lines[0], "Filename") {
			t.Fatalf("swaps %q", got)
		}
		if len(lines) == 2 {
			f := strings.Fields(lines[1])
			if len(f) != 5 || f[0] != "none" {
				t.Fatalf("device line %q", lines[1])
			}
			size, err1 := strconv.ParseUint(f[2], 10, 64)
			used, err2 := strconv.ParseUint(f[3], 10, 64)
			if err1 != nil || err2 != nil || used > size {
				t.Fatalf("device line %q", lines[1])
			}
		}
		if off := Swaps(nil, swaps, meminfo, mem, Options{SwapOff: true}); bytes.Count(off, []byte("\n")) != 1 {
			t.Fatalf("-u swaps %q", off)
		}
	})
}

func FuzzCPUList(f *testing.F) {
	f.Add("0-3", "1,3", 0.0, false)
	f.Add("0-1", "", 1.5, true)
	f.Add("", "5-7", 0.5, true)
	f.Add("0-255", "0-255", 1e300, true)
	f.Fuzz(func(t *testing.T, online, cpus string, quota float64, cfs bool) {
		host, err1 := hostcgroup.ParseCPUSet(online)
		set, err2 := hostcgroup.ParseCPUSet(cpus)
		if err1 != nil || err2 != nil || host.Count() > 1024 || set.Count() > 1024 {
			return
		}
		v := NewCPUView(&hostcgroup.CPU{CPUs: set, QuotaCPUs: quota}, host, Options{CFS: cfs})
		for i := 1; i < len(v.Host); i++ {
			if v.Host[i] <= v.Host[i-1] {
				t.Fatalf("view %v not ascending", v.Host)
			}
		}
		if len(v.Host) == 0 && !(host.IsEmpty() && set.IsEmpty()) {
			t.Fatalf("empty view from online %q cpus %q", online, cpus)
		}
		out := CPUList(nil, v)
		if len(v.Host) == 0 {
			return
		}
		back, err := hostcgroup.ParseCPUSet(string(out))
		if err != nil || back.Count() != len(v.Host) {
			t.Fatalf("CPUList %q of %v: %v", out, v.Host, err)
		}
	})
}

func FuzzLoadavg(f *testing.F) {
	f.Add([]byte("0.00 0.01 0.05 1/100 4242\n"), uint64(0), uint64(2048), uint64(1<<40), 3, 100, 4242)
	f.Add([]byte(""), uint64(1<<64-1), uint64(1<<63), uint64(1<<11-1), -5, -1, -1)
	f.Fuzz(func(t *testing.T, host []byte, a, b, c uint64, running, total, last int) {
		if got := Loadavg(nil, host, nil); !bytes.Equal(got, host) {
			t.Fatalf("no view: %q, host %q", got, host)
		}
		got := Loadavg(nil, host, &Load{Avg: [3]uint64{a, b, c}, Running: running, Total: total, LastPID: last})
		f := strings.Fields(string(got))
		if len(f) != 5 || !strings.HasSuffix(string(got), "\n") || !strings.Contains(f[3], "/") {
			t.Fatalf("loadavg %q", got)
		}
		for _, avg := range f[:3] {
			if _, err := strconv.ParseFloat(avg, 64); err != nil || strings.HasPrefix(avg, "-") {
				t.Fatalf("average %q in %q", avg, got)
			}
		}
	})
}

func FuzzPressure(f *testing.F) {
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"), []byte("full avg10=1.00\n"), true)
	f.Fuzz(func(t *testing.T, host, cg []byte, hasCG bool) {
		if !hasCG {
			cg = nil
		}
		got := Pressure(nil, host, cg)
		want := host
		if cg != nil {
			want = cg
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pressure %q, want %q", got, want)
		}
	})
}

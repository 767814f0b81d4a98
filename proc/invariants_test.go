package proc

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// The invariant tests say why the bytes are right, over inputs drawn from a
// fixed seed: whatever the cgroup values, a container never sees more memory
// than its limit or the host has, its files agree with each other, and the
// lines it does not own are the host's.

const iterations = 1000

// meminfoHostKept lists the labels whose value stays the host's: sizes of
// the kernel and the huge page pool (see Meminfo). Every other line is the
// container's, derived, or 0.
var meminfoHostKept = map[string]bool{
	"VmallocTotal:": true, "Hugepagesize:": true, "Hugetlb:": true,
	"HugePages_Total:": true, "HugePages_Free:": true, "HugePages_Rsvd:": true, "HugePages_Surp:": true,
}

// meminfoAboveTotal lists the kB fields that may exceed MemTotal: swap,
// the uncompressed size of what zswap holds, commit accounting, and the
// host-kept sizes.
var meminfoAboveTotal = map[string]bool{
	"SwapTotal:": true, "SwapFree:": true, "Zswapped:": true, "CommitLimit:": true, "Committed_AS:": true,
	"VmallocTotal:": true, "Hugepagesize:": true, "Hugetlb:": true,
}

var kbLine = regexp.MustCompile(`^([^ :]+:) *([0-9]+) kB$`)

// parseMeminfo maps each label to the value of its first line.
func parseMeminfo(t *testing.T, b []byte) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		sm := kbLine.FindStringSubmatch(line)
		if sm == nil {
			continue
		}
		if _, dup := m[sm[1]]; dup {
			continue
		}
		v, err := strconv.ParseUint(sm[2], 10, 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		m[sm[1]] = v
	}
	return m
}

func fixture(t testing.TB, scenario, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", scenario, "host", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withValue sets a label's value in a meminfo file, as the kernel prints it.
func withValue(meminfo []byte, label string, kb uint64) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(meminfo, []byte("\n")) {
		if bytes.HasPrefix(line, []byte(label)) {
			line = fmt.Appendf(nil, "%-16s%8d kB\n", label, kb)
		}
		out = append(out, line...)
	}
	return out
}

func randLimit(r *rand.Rand, around uint64) hostcgroup.Limit {
	if r.IntN(4) == 0 {
		return hostcgroup.NoLimit
	}
	return hostcgroup.Bytes(r.Uint64N(2*around + 1))
}

func randMemory(r *rand.Rand, hostKB uint64) *hostcgroup.Memory {
	limit := randLimit(r, hostKB*1024)
	scale := hostKB * 1024
	if !limit.Unlimited {
		scale = limit.Value
	}
	f := func() uint64 { return r.Uint64N(scale/2 + 1) }
	m := &hostcgroup.Memory{
		Limit:      limit,
		UsageBytes: r.Uint64N(scale + scale/2 + 1),
		Swappiness: []int{-1, 0, 60}[r.IntN(3)],
		Stat: hostcgroup.MemoryStat{
			CacheBytes: f(), RSSBytes: f(), AnonHugeBytes: f(), ShmemBytes: f(),
			MappedBytes: f(), DirtyBytes: f(), WritebackBytes: f(),
			ActiveAnonBytes: f(), InactiveAnonBytes: f(), ActiveFileBytes: f(),
			InactiveFileBytes: f(), UnevictableBytes: f(),
			HasSlab: r.IntN(2) == 0, SlabBytes: f(), SlabReclaimableBytes: f(), SlabUnreclaimableBytes: f(),
			HasZswap: r.IntN(2) == 0, ZswapBytes: f(), ZswappedBytes: f(),
			SwapCachedBytes: f(), KernelStackBytes: f(), PageTablesBytes: f(),
			SecPageTablesBytes: f(), PercpuBytes: f(), VmallocBytes: f(),
			FileHugeBytes: f(), ShmemHugeBytes: f(),
		},
	}
	if r.IntN(5) != 0 {
		m.Swap = &hostcgroup.Swap{Limit: randLimit(r, 4<<30), UsageBytes: r.Uint64N(8 << 30)}
	}
	return m
}

func TestMeminfoInvariants(t *testing.T) {
	t.Parallel()
	template := fixture(t, "v2-limited", "proc/meminfo")
	r := rand.New(rand.NewPCG(1, 2))
	for i := range iterations {
		hostKB := 1024 + r.Uint64N(1<<30)
		hostSwapKB := uint64(0)
		if r.IntN(3) != 0 {
			hostSwapKB = r.Uint64N(64 << 20)
		}
		host := withValue(withValue(template, "MemTotal:", hostKB), "SwapTotal:", hostSwapKB)
		mem := randMemory(r, hostKB)
		opt := Options{SwapOff: r.IntN(4) == 0, ZswapOff: r.IntN(3) == 0}
		got := Meminfo(nil, host, mem, opt)
		desc := fmt.Sprintf("case %d: host %d kB swap %d kB, mem %+v swap %+v, %+v", i, hostKB, hostSwapKB, *mem, mem.Swap, opt)

		// The host's lines, in the host's order; the ones Meminfo does not
		// own unchanged; the ones it owns in the kernel's layout.
		hostLines := strings.SplitAfter(string(host), "\n")
		gotLines := strings.SplitAfter(string(got), "\n")
		if len(hostLines) != len(gotLines) {
			t.Fatalf("%s: %d lines, host has %d", desc, len(gotLines), len(hostLines))
		}
		for j, hl := range hostLines {
			if hl == "" {
				continue // after the last '\n'
			}
			label, _, _ := strings.Cut(hl, ":")
			label += ":"
			gl := gotLines[j]
			if !strings.HasPrefix(gl, label) {
				t.Fatalf("%s: line %d is %q, host's is %q", desc, j, gl, hl)
			}
			if meminfoHostKept[label] && gl != hl {
				t.Fatalf("%s: host line %q changed to %q", desc, hl, gl)
			}
			if !meminfoHostKept[label] && strings.HasSuffix(hl, " kB\n") {
				var v uint64
				fmt.Sscanf(gl[len(label):], "%d", &v)
				if want := fmt.Sprintf("%-16s%8d kB\n", label, v); gl != want {
					t.Fatalf("%s: line %q is not in the kernel's layout %q", desc, gl, want)
				}
			}
		}

		m := parseMeminfo(t, got)
		wantTotal := hostKB
		if !mem.Limit.Unlimited {
			wantTotal = min(mem.Limit.Value/1024, hostKB)
		}
		check := func(ok bool, format string, args ...any) {
			t.Helper()
			if !ok {
				t.Fatalf("%s: %s\n%s", desc, fmt.Sprintf(format, args...), got)
			}
		}
		check(m["MemTotal:"] == wantTotal, "MemTotal %d, want min(limit, host) %d", m["MemTotal:"], wantTotal)
		check(m["MemFree:"] <= m["MemTotal:"], "MemFree %d > MemTotal %d", m["MemFree:"], m["MemTotal:"])
		check(m["MemAvailable:"] <= m["MemTotal:"], "MemAvailable %d > MemTotal %d", m["MemAvailable:"], m["MemTotal:"])
		check(m["MemAvailable:"] >= m["MemFree:"], "MemAvailable %d < MemFree %d", m["MemAvailable:"], m["MemFree:"])
		check(m["SwapFree:"] <= m["SwapTotal:"], "SwapFree %d > SwapTotal %d", m["SwapFree:"], m["SwapTotal:"])
		check(m["SwapTotal:"] <= hostSwapKB, "SwapTotal %d > host's %d", m["SwapTotal:"], hostSwapKB)
		if opt.SwapOff || mem.Swap == nil {
			check(m["SwapTotal:"] == 0 && m["SwapFree:"] == 0, "swap shown with swap off")
		}
		if opt.ZswapOff || !mem.Stat.HasZswap {
			check(m["Zswap:"] == 0 && m["Zswapped:"] == 0, "zswap shown with zswap off")
		}
		if !mem.Stat.HasSlab {
			check(m["Slab:"] == 0, "slab shown without slab counters")
		}
		checkMeminfoConsistent(t, m, check)
		check(m["Active:"] == min(m["Active(anon):"]+m["Active(file):"], m["MemTotal:"]), "Active is not Active(anon) + Active(file), capped")
		// CommitLimit: the host's overcommit ratio applied to the
		// container's memory, plus its swap.
		hostCommit := parseMeminfo(t, host)["CommitLimit:"]
		wantCommit := m["MemTotal:"]*(max(hostCommit, hostSwapKB)-hostSwapKB)/hostKB + m["SwapTotal:"]
		check(m["CommitLimit:"] == wantCommit, "CommitLimit %d, want MemTotal x host ratio + SwapTotal = %d", m["CommitLimit:"], wantCommit)
		// Nothing of the host's usage is left: the template's values are
		// sentinels no container value can take.
		for label, v := range parseMeminfo(t, sentinelHost(host)) {
			if v == sentinelKB && !meminfoHostKept[label] {
				if got := parseMeminfo(t, Meminfo(nil, sentinelHost(host), mem, opt))[label]; got == sentinelKB {
					t.Fatalf("%s: %s shows the host's value", desc, label)
				}
			}
		}

		// swaps agrees with meminfo.
		swaps := string(Swaps(nil, fixture(t, "v2-limited", "proc/swaps"), host, mem, opt))
		lines := strings.Split(strings.TrimSuffix(swaps, "\n"), "\n")
		check(lines[0] == strings.TrimSuffix(swapsHeader, "\n"), "swaps header %q", lines[0])
		if m["SwapTotal:"] == 0 {
			check(len(lines) == 1, "swaps has a device with SwapTotal 0:\n%s", swaps)
			continue
		}
		check(len(lines) == 2, "swaps has %d lines", len(lines))
		fields := strings.Fields(lines[1])
		check(len(fields) == 5 && fields[0] == "none" && fields[1] == "virtual" && fields[4] == "0", "swaps line %q", lines[1])
		check(fields[2] == strconv.FormatUint(m["SwapTotal:"], 10), "swaps size %s, meminfo SwapTotal %d", fields[2], m["SwapTotal:"])
		check(fields[3] == strconv.FormatUint(m["SwapTotal:"]-m["SwapFree:"], 10), "swaps used %s, meminfo SwapTotal-SwapFree %d", fields[3], m["SwapTotal:"]-m["SwapFree:"])
	}
}

// sentinelKB replaces every host value that is neither MemTotal, SwapTotal,
// CommitLimit nor DirectMap (which rules derive from) in sentinelHost.
const sentinelKB = 987654321

func sentinelHost(host []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(host, []byte("\n")) {
		label, _, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.HasSuffix(line, []byte(" kB\n")) {
			switch l := string(label); {
			case l == "MemTotal" || l == "SwapTotal" || l == "CommitLimit" || strings.HasPrefix(l, "DirectMap"):
			default:
				line = fmt.Appendf(nil, "%-16s%8d kB\n", l+":", sentinelKB)
			}
		}
		out = append(out, line...)
	}
	return out
}

// checkMeminfoConsistent checks what holds within any container's meminfo,
// whatever its cgroup said: no field a container's memory bounds is above
// MemTotal, and the fields that sum or bound each other do.
func checkMeminfoConsistent(t *testing.T, m map[string]uint64, check func(bool, string, ...any)) {
	t.Helper()
	total := m["MemTotal:"]
	for label, v := range m {
		if strings.HasPrefix(label, "HugePages_") || meminfoAboveTotal[label] {
			continue
		}
		check(v <= total, "%s %d > MemTotal %d", label, v, total)
	}
	check(m["MemFree:"] <= m["MemAvailable:"], "MemAvailable %d < MemFree %d", m["MemAvailable:"], m["MemFree:"])
	check(m["SwapFree:"] <= m["SwapTotal:"], "SwapFree %d > SwapTotal %d", m["SwapFree:"], m["SwapTotal:"])
	check(m["KReclaimable:"] >= m["SReclaimable:"], "KReclaimable %d < SReclaimable %d", m["KReclaimable:"], m["SReclaimable:"])
	check(m["Slab:"] == min(m["SReclaimable:"]+m["SUnreclaim:"], total), "Slab %d is not SReclaimable %d + SUnreclaim %d", m["Slab:"], m["SReclaimable:"], m["SUnreclaim:"])
	check(m["Mlocked:"] <= m["Unevictable:"], "Mlocked %d > Unevictable %d", m["Mlocked:"], m["Unevictable:"])
	check(m["Active:"] <= min(m["Active(anon):"]+m["Active(file):"], total), "Active %d > Active(anon) + Active(file)", m["Active:"])
	check(m["Inactive:"] <= min(m["Inactive(anon):"]+m["Inactive(file):"], total), "Inactive %d > Inactive(anon) + Inactive(file)", m["Inactive:"])
	check(m["Committed_AS:"] >= m["AnonPages:"], "Committed_AS %d < AnonPages %d", m["Committed_AS:"], m["AnonPages:"])
	check(m["CommitLimit:"] >= m["SwapTotal:"], "CommitLimit %d < SwapTotal %d", m["CommitLimit:"], m["SwapTotal:"])
	check(m["Buffers:"] == 0, "Buffers %d", m["Buffers:"])
	check(m["DirectMap4k:"]+m["DirectMap2M:"]+m["DirectMap1G:"] <= total, "DirectMap sums to more than MemTotal %d", total)
}

// randomHost makes a host cpuinfo and stat for n possible CPUs of which the
// online ones are shown, each block and line tagged with its CPU so that a
// kept block can be traced back.
func randomHost(r *rand.Rand, online []int) (cpuinfo, stat []byte, rows map[int][10]uint64) {
	var ci, st bytes.Buffer
	rows = map[int][10]uint64{}
	var agg [10]uint64
	for _, n := range online {
		var row [10]uint64
		for i := range row {
			if i == 3 {
				row[i] = r.Uint64N(1 << 40)
			} else if r.IntN(2) == 0 {
				row[i] = r.Uint64N(1 << 30)
			}
			agg[i] += row[i]
		}
		rows[n] = row
		fmt.Fprintf(&ci, "processor\t: %d\nvendor_id\t: Test\napicid\t\t: %d\nflags\t\t: fpu\n\n", n, n)
	}
	fmt.Fprintf(&st, "cpu  %s\n", join(agg[:]))
	for _, n := range online {
		row := rows[n]
		fmt.Fprintf(&st, "cpu%d %s\n", n, join(row[:]))
	}
	st.WriteString("intr 1 2 3\nctxt 4\nbtime 5\nprocesses 6\nprocs_running 7\nprocs_blocked 8\nsoftirq 9 10\n")
	return ci.Bytes(), st.Bytes(), rows
}

func join(v []uint64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(s, " ")
}

func randSet(r *rand.Rand, n int, p float64) hostcgroup.CPUSet {
	var s hostcgroup.CPUSet
	for i := range n {
		if r.Float64() < p {
			s.Add(i)
		}
	}
	return s
}

func TestCPUInvariants(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range iterations {
		possible := 1 + r.IntN(130)
		online := randSet(r, possible, 0.9)
		if online.IsEmpty() {
			online.Add(r.IntN(possible))
		}
		var cpu *hostcgroup.CPU
		if r.IntN(5) != 0 {
			cpu = &hostcgroup.CPU{CPUs: randSet(r, possible+2, r.Float64())}
			if r.IntN(2) == 0 {
				cpu.QuotaCPUs = r.Float64() * float64(possible+2)
			}
		}
		opt := Options{CFS: r.IntN(2) == 0}
		v := NewCPUView(cpu, online, opt)
		desc := fmt.Sprintf("case %d: online %v cpu %+v %+v → %+v", i, online, cpu, opt, v)
		check := func(ok bool, format string, args ...any) {
			t.Helper()
			if !ok {
				t.Fatalf("%s: %s", desc, fmt.Sprintf(format, args...))
			}
		}

		// The view.
		check(len(v.Host) > 0, "empty view")
		for j, n := range v.Host {
			check(online.Contains(n), "CPU %d is not online", n)
			check(j == 0 || v.Host[j-1] < n, "view not ascending")
		}
		want := online
		if cpu != nil && !cpu.CPUs.Intersect(online).IsEmpty() {
			want = cpu.CPUs.Intersect(online)
		}
		wantN := want.Count()
		if opt.CFS && cpu != nil && cpu.QuotaCPUs > 0 {
			wantN = min(wantN, int(math.Ceil(cpu.QuotaCPUs)))
		}
		check(len(v.Host) == wantN, "%d CPUs, want %d", len(v.Host), wantN)
		for _, n := range v.Host {
			check(want.Contains(n), "CPU %d outside the cpuset", n)
		}
		check(v.Renumber == (opt.CFS && cpu != nil), "Renumber %v", v.Renumber)

		// online agrees with the view.
		list := strings.TrimSuffix(string(CPUList(nil, v)), "\n")
		set, err := hostcgroup.ParseCPUSet(list)
		check(err == nil, "online %q: %v", list, err)
		if v.Renumber {
			check(cmp.Equal(set.CPUs(), seq(len(v.Host))), "renumbered online %q for %d CPUs", list, len(v.Host))
		} else {
			check(cmp.Equal(set.CPUs(), v.Host), "online %q, view %v", list, v.Host)
		}

		// cpuinfo: one block per CPU of the view, in order, numbered from 0.
		hostCPUInfo, hostStat, rows := randomHost(r, online.CPUs())
		ci := string(CPUInfo(nil, hostCPUInfo, v))
		blocks := strings.Split(strings.TrimSuffix(ci, "\n\n"), "\n\n")
		check(len(blocks) == len(v.Host), "%d cpuinfo blocks for %d CPUs", len(blocks), len(v.Host))
		for k, b := range blocks {
			want := fmt.Sprintf("processor\t: %d\nvendor_id\t: Test\napicid\t\t: %d\nflags\t\t: fpu", k, v.Host[k])
			check(b == want, "cpuinfo block %d is %q, want %q", k, b, want)
		}

		// stat.
		var usage *hostcgroup.CPUUsage
		switch r.IntN(3) {
		case 1: // v1: per CPU
			usage = &hostcgroup.CPUUsage{PerCPU: make([]hostcgroup.CPUTime, possible)}
			for j := range usage.PerCPU {
				usage.PerCPU[j] = hostcgroup.CPUTime{UserNanos: r.Uint64N(1 << 44), SystemNanos: r.Uint64N(1 << 44)}
			}
		case 2: // v2: totals
			usage = &hostcgroup.CPUUsage{UserNanos: r.Uint64N(1 << 50), SystemNanos: r.Uint64N(1 << 50)}
		}
		ticks := []uint64{0, 100, 250, 1000}[r.IntN(4)]
		got := Stat(nil, hostStat, StatInput{View: v, Usage: usage, ClockTicks: ticks})
		checkStat(t, desc, hostStat, got, v, usage, ticks, rows)

		// uptime.
		up := r.Float64() * 1e7
		hostUptime := []byte(fmt.Sprintf("%.2f %.2f\n", up, up*float64(possible)))
		in := UptimeInput{InitStartTicks: r.Uint64N(uint64(up*100) + 100), ClockTicks: ticks, VisibleCPUs: len(v.Host), Usage: usage}
		u := string(Uptime(nil, hostUptime, in))
		var age, idle float64
		_, err = fmt.Sscanf(u, "%f %f\n", &age, &idle)
		check(err == nil && u == fmt.Sprintf("%.2f %.2f\n", age, idle), "uptime %q", u)
		hostUp, _ := strconv.ParseFloat(strings.Fields(string(hostUptime))[0], 64)
		check(age >= 0 && age <= hostUp, "uptime age %v, host %v", age, hostUp)
		check(idle >= 0, "uptime idle %v", idle)
		cpus := float64(len(v.Host))
		check(idle <= (age+0.005)*cpus+0.005, "uptime idle %v > age %v x %v CPUs", idle, age, cpus)
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func ticksOf(ns, ct uint64) uint64 {
	if ct == 0 {
		ct = 100
	}
	return nsToTicks(ns, ct)
}

func checkStat(t *testing.T, desc string, host, got []byte, v CPUView, usage *hostcgroup.CPUUsage, ct uint64, rows map[int][10]uint64) {
	t.Helper()
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Fatalf("%s: stat: %s\nhost:\n%s\ngot:\n%s", desc, fmt.Sprintf(format, args...), host, got)
		}
	}
	var gotCPU [][]uint64
	var names []string
	var agg []uint64
	var others []string
	for _, line := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
		f := strings.Fields(line)
		if !strings.HasPrefix(f[0], "cpu") {
			others = append(others, line)
			continue
		}
		vals := make([]uint64, len(f)-1)
		for j, s := range f[1:] {
			var err error
			vals[j], err = strconv.ParseUint(s, 10, 64)
			check(err == nil, "field %q", s)
		}
		if f[0] == "cpu" {
			check(agg == nil && gotCPU == nil && strings.HasPrefix(line, "cpu  "), "aggregate line %q misplaced or misformatted", line)
			agg = vals
			continue
		}
		names = append(names, f[0])
		gotCPU = append(gotCPU, vals)
	}
	var hostOthers []string
	for _, line := range strings.Split(strings.TrimSuffix(string(host), "\n"), "\n") {
		if !strings.HasPrefix(line, "cpu") {
			hostOthers = append(hostOthers, line)
		}
	}
	check(cmp.Equal(others, hostOthers), "non-cpu lines changed")
	check(len(gotCPU) == len(v.Host), "%d cpuN lines for %d CPUs", len(gotCPU), len(v.Host))
	for k, n := range v.Host {
		if v.Renumber {
			check(names[k] == fmt.Sprintf("cpu%d", k), "line %d named %s", k, names[k])
		} else {
			check(names[k] == fmt.Sprintf("cpu%d", n), "line %d named %s, want cpu%d", k, names[k], n)
		}
		hostRow := rows[n]
		row := gotCPU[k]
		if usage == nil {
			check(cmp.Equal(row, hostRow[:]), "cpu%d %v, host's %v", n, row, hostRow)
			continue
		}
		check(len(row) == 10 && row[1] == 0 && cmp.Equal(row[4:], make([]uint64, 6)), "cpu%d synthesized as %v", n, row)
		check(row[3] >= hostRow[3], "cpu%d idle %d below the host's %d", n, row[3], hostRow[3])
		if usage.PerCPU != nil {
			check(row[0] == ticksOf(usage.PerCPU[n].UserNanos, ct), "cpu%d user %d", n, row[0])
			check(row[2] == ticksOf(usage.PerCPU[n].SystemNanos, ct), "cpu%d system %d", n, row[2])
		}
	}
	if usage != nil && usage.PerCPU == nil {
		var user, system uint64
		for _, row := range gotCPU {
			user += row[0]
			system += row[2]
		}
		check(user == ticksOf(usage.UserNanos, ct) && system == ticksOf(usage.SystemNanos, ct),
			"spread user %d system %d, totals %d %d", user, system, ticksOf(usage.UserNanos, ct), ticksOf(usage.SystemNanos, ct))
	}
	if bytes.Equal(got, host) {
		return // nothing changed: the host's own aggregate stays
	}
	sums := make([]uint64, len(agg))
	for _, row := range gotCPU {
		for j := range row {
			sums[j] += row[j]
		}
	}
	check(cmp.Equal(agg, sums), "aggregate %v, column sums %v", agg, sums)
}

// TestNoLimitIsHost: a container with no limit and every CPU sees the host's
// files where the formulas allow it.
func TestNoLimitIsHost(t *testing.T) {
	t.Parallel()
	const sc = "no-limit"
	meminfo := fixture(t, sc, "proc/meminfo")
	cpuinfo := fixture(t, sc, "proc/cpuinfo")
	stat := fixture(t, sc, "proc/stat")
	swaps := fixture(t, sc, "proc/swaps")
	online, err := hostcgroup.ParseCPUSet(string(fixture(t, sc, onlinePath)))
	if err != nil {
		t.Fatal(err)
	}
	v := NewCPUView(&hostcgroup.CPU{CPUs: online}, online, Options{})
	noLimit := &hostcgroup.Memory{Limit: hostcgroup.NoLimit, Swappiness: 60, Swap: &hostcgroup.Swap{Limit: hostcgroup.NoLimit}}
	for _, tc := range []struct {
		name      string
		got, host []byte
	}{
		{"cpuinfo", CPUInfo(nil, cpuinfo, v), cpuinfo},
		{"stat", Stat(nil, stat, StatInput{View: v, ClockTicks: 100}), stat},
		{"online", CPUList(nil, v), fixture(t, sc, onlinePath)},
		{"swaps", Swaps(nil, swaps, meminfo, noLimit, Options{}), swaps},
		{"meminfo without memory controller", Meminfo(nil, meminfo, nil, Options{}), meminfo},
		{"swaps without memory controller", Swaps(nil, swaps, meminfo, nil, Options{}), swaps},
		{"cpuinfo with an empty view", CPUInfo(nil, cpuinfo, CPUView{}), cpuinfo},
		{"stat with an empty view", Stat(nil, stat, StatInput{}), stat},
	} {
		if !bytes.Equal(tc.got, tc.host) {
			t.Errorf("%s differs from the host's:\n%s", tc.name, cmp.Diff(string(tc.host), string(tc.got)))
		}
	}

	// meminfo with no limit: MemTotal and the host-kept lines are the
	// host's.
	mem := &hostcgroup.Memory{Limit: hostcgroup.NoLimit, UsageBytes: 1 << 30, Swappiness: 60}
	got := strings.SplitAfter(string(Meminfo(nil, meminfo, mem, Options{})), "\n")
	for i, hl := range strings.SplitAfter(string(meminfo), "\n") {
		label, _, _ := strings.Cut(hl, ":")
		if (label == "MemTotal" || meminfoHostKept[label+":"]) && got[i] != hl {
			t.Errorf("line %d: %q, host's %q", i, got[i], hl)
		}
	}
}

// TestMeminfoLayout: a line Meminfo writes is byte for byte what the kernel
// writes for the same value, for every kB line of this machine's meminfo.
func TestMeminfoLayout(t *testing.T) {
	t.Parallel()
	host := fixture(t, "no-limit", "proc/meminfo")
	n := 0
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if !bytes.HasSuffix(line, []byte(" kB\n")) {
			continue
		}
		label, ok := meminfoLabel(line)
		if !ok {
			t.Fatalf("no label in %q", line)
		}
		v, ok := meminfoValue(line, len(label))
		if !ok {
			t.Fatalf("no value in %q", line)
		}
		if got := appendMeminfoLine(nil, label, v); !bytes.Equal(got, line) {
			t.Errorf("got %q, kernel %q", got, line)
		}
		n++
	}
	if n < 40 {
		t.Fatalf("only %d kB lines checked", n)
	}
}

// TestMeminfoFixtureTrees: meminfo for the containers of hostcgroup's v1,
// hybrid and v2 fixture trees (synthetic memory.stat values, not
// physically consistent) keeps every invariant, and shows none of the
// host's usage.
func TestMeminfoFixtureTrees(t *testing.T) {
	t.Parallel()
	host := fixture(t, "no-limit", "proc/meminfo")
	for _, tc := range []struct {
		tree string
		pids []int
	}{
		{"v1", []int{1, 1000, 2000}},
		{"hybrid", []int{1, 3000}},
		{"v2", []int{4000, 4100}},
		{"no-limit", []int{6000}},
	} {
		root, err := filepath.Abs(filepath.Join("..", "hostcgroup", "testdata", tc.tree))
		if err != nil {
			t.Fatal(err)
		}
		v, err := hostcgroup.New(hostcgroup.Options{ProcFS: filepath.Join(root, "proc"), MountPrefix: root})
		if err != nil {
			t.Fatal(err)
		}
		for _, pid := range tc.pids {
			cgs, err := v.Cgroups(pid)
			if err != nil {
				t.Fatal(err)
			}
			mem := v.Snapshot(cgs, hostcgroup.WantMemory).Memory
			if mem == nil {
				t.Fatalf("%s pid %d: no memory view", tc.tree, pid)
			}
			for _, opt := range []Options{{}, {SwapOff: true}, {ZswapOff: true}} {
				got := Meminfo(nil, host, mem, opt)
				desc := fmt.Sprintf("%s pid %d %+v", tc.tree, pid, opt)
				m := parseMeminfo(t, got)
				check := func(ok bool, format string, args ...any) {
					t.Helper()
					if !ok {
						t.Fatalf("%s: %s\n%s", desc, fmt.Sprintf(format, args...), got)
					}
				}
				checkMeminfoConsistent(t, m, check)
				if tc.tree == "v1" || tc.tree == "hybrid" {
					for _, l := range []string{"Slab:", "KernelStack:", "PageTables:", "Percpu:", "VmallocUsed:", "FileHugePages:"} {
						check(m[l] == 0, "%s %d on v1, which has no such counter", l, m[l])
					}
				}
				sent := parseMeminfo(t, Meminfo(nil, sentinelHost(host), mem, opt))
				for label, val := range sent {
					check(val != sentinelKB || meminfoHostKept[label], "%s shows the host's value", label)
				}
			}
		}
	}
}

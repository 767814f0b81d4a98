package proc

import (
	"bytes"
	"math/bits"
	"strconv"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// Stat appends the container's /proc/stat to dst (lxcfs's "path A"), using
// the host's /proc/stat as the template.
//
// Each host line "cpuN" with N in in.View.Host is kept, named "cpuN" (the
// host number) or, when the view is renumbered (--enable-cfs), "cpu<k>" with
// k counting kept lines from 0; other cpuN lines are dropped. With in.Usage,
// a kept line becomes
//
//	cpuX <user> 0 <system> <idle> 0 0 0 0 0 0
//
// where user and system are the container's CPU time on that CPU in clock
// ticks (ns * ClockTicks / 1e9, truncated), and idle is the host's idle plus
// the host's busy time the container did not use:
//
//	host_used = user + nice + system + iowait + irq + softirq + steal + guest + guest_nice (host line)
//	idle      = host_idle + host_used - (user + system)   when host_used >= user + system
//	idle      = host_idle                                  otherwise
//
// Per-CPU times come from v1 cpuacct.usage_all (Usage.PerCPU, indexed by
// host CPU; a CPU beyond its end has used nothing). v2 has only cgroup
// totals (cpu.stat user_usec, system_usec): they are converted to ticks and
// spread evenly over the visible CPUs, the remainder going one tick each to
// the first CPUs of the view. Without in.Usage the host's fields are kept
// under the rendered name. A host line with fewer than four numbers is kept
// as it is (renamed), being no CPU line we understand.
//
// The first line, "cpu  ...", is recomputed as the column sums of the kept
// cpuN lines (at least 10 columns). When the container changes no cpuN line
// (all visible, same names, no usage) the cpu lines are the host's,
// aggregate included (and with no other line to change, the whole file is
// the host's): the kernel sums nanoseconds before converting to
// ticks, so its aggregate can exceed the sum of the per-CPU lines by a few
// ticks. A host file without any cpu line is returned unchanged. Every
// other line (intr, ctxt, btime, processes, procs_running, procs_blocked,
// softirq) is the host's, except procs_running and procs_blocked, which
// count the container's threads when in.Tasks is set, and btime, which is
// in.Boot.Btime(host btime) when in.Boot is set: the container's boot, so
// that btime + /proc/uptime is now (psutil.boot_time(), node_exporter's
// node_boot_time_seconds, `uptime -s` agree with `uptime`).
//
// Where this differs from lxcfs 5.0.3:
//   - v2 shows the container's CPU time (lxcfs 7.0 shows the host's times
//     for the container's CPUs, having no cpuacct on v2).
//   - Under --enable-cfs with in.Times (package cputimes's history), the
//     k-th visible CPU's line is Times[k]: the container's usage and the
//     idle of its quota-sized share of the machine, kept per container so
//     that every counter is monotonic. lxcfs 5.0.3/6.0's v1 "cpuview" shows
//     zeros on the first read and idle that can go down between reads; 7.0
//     on v2 shows host times.
//   - ns are converted to ticks in integer arithmetic; lxcfs goes through
//     double and can be one tick off.
//   - A CPU missing from cpuacct.usage_all shows zero usage, where lxcfs stops
//     the file at that line.
//   - An unparseable "cpuX" line is kept rather than dropped.
//   - btime is the container's boot, not the host's (lxcfs keeps the
//     host's, so that btime + uptime is the host's boot plus the
//     container's age).
func Stat(dst, host []byte, in StatInput) []byte {
	c := newStatCalc(host, in)

	// First pass: the aggregate's column sums, and whether anything changes.
	var sums [maxStatCols]uint64
	cols := minStatCols
	changed, hasCPU := false, false
	k, ord := 0, 0
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		kind, n, nameEnd := classifyStatLine(line)
		if kind == otherLine {
			continue
		}
		hasCPU = true
		if kind == aggregateLine {
			continue
		}
		idx, visible := c.visible(n, ord)
		ord++
		if !visible {
			changed = true
			continue
		}
		r := c.row(line, nameEnd, n, idx)
		if r.synth || (in.View.Renumber && k != n) {
			changed = true
		}
		k++
		for i := range r.n {
			sums[i] = satAdd(sums[i], r.vals[i])
		}
		cols = max(cols, r.n)
	}
	if !hasCPU || (!changed && in.Tasks == nil && in.Boot == nil) {
		return append(dst, host...)
	}

	// Second pass: emit.
	aggregateDone := false
	k, ord = 0, 0
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		kind, n, nameEnd := classifyStatLine(line)
		if kind == otherLine {
			dst = appendOtherStatLine(dst, line, in.Tasks, in.Boot)
			continue
		}
		if !aggregateDone {
			aggregateDone = true
			if !changed && kind == aggregateLine {
				// Only other lines change: the kernel's aggregate
				// stays (see above).
				dst = append(dst, line...)
				continue
			}
			dst = append(dst, "cpu "...)
			for i := range cols {
				dst = append(dst, ' ')
				dst = strconv.AppendUint(dst, sums[i], 10)
			}
			dst = append(dst, '\n')
		}
		if kind == aggregateLine {
			continue
		}
		idx, visible := c.visible(n, ord)
		ord++
		if !visible {
			continue
		}
		name := n
		if in.View.Renumber {
			name = k
		}
		k++
		dst = append(dst, "cpu"...)
		dst = strconv.AppendInt(dst, int64(name), 10)
		r := c.row(line, nameEnd, n, idx)
		if !r.synth {
			dst = append(dst, line[nameEnd:]...)
			continue
		}
		for i := range r.n {
			dst = append(dst, ' ')
			dst = strconv.AppendUint(dst, r.vals[i], 10)
		}
		dst = append(dst, '\n')
	}
	return dst
}

const (
	// minStatCols is the number of columns of a synthesized line and the
	// least the aggregate line has: user nice system idle iowait irq
	// softirq steal guest guest_nice.
	minStatCols = 10
	// maxStatCols bounds the columns summed into the aggregate; the kernel
	// prints 10.
	maxStatCols = 32
)

type statLineKind int

const (
	otherLine     statLineKind = iota
	aggregateLine              // "cpu  ..."
	cpuLine                    // "cpuN ..."
)

// classifyStatLine tells the aggregate line and the cpuN lines from the
// rest, returning N and the end of the name for a cpuN line.
func classifyStatLine(line []byte) (kind statLineKind, n, nameEnd int) {
	if len(line) < 3 || string(line[:3]) != "cpu" {
		return otherLine, 0, 0
	}
	if len(line) == 3 || isBlank(line[3]) || line[3] == '\n' {
		return aggregateLine, 0, 0
	}
	v, end, ok := parseUint(line, 3)
	if !ok || v > 1<<20 || (end < len(line) && !isBlank(line[end]) && line[end] != '\n') {
		return otherLine, 0, 0
	}
	return cpuLine, int(v), end
}

// statCalc computes the values of the kept cpuN lines.
type statCalc struct {
	in StatInput
	ct uint64
	// spread is set for v2-style usage (totals only): userTicks and
	// sysTicks are spread over nVisible CPUs.
	spread              bool
	userTicks, sysTicks uint64
	nVisible            int
}

func newStatCalc(host []byte, in StatInput) statCalc {
	c := statCalc{in: in, ct: in.ClockTicks}
	if c.ct == 0 {
		c.ct = 100
	}
	if u := in.Usage; u != nil && u.PerCPU == nil {
		c.spread = true
		c.userTicks = nsToTicks(u.UserNanos, c.ct)
		c.sysTicks = nsToTicks(u.SystemNanos, c.ct)
		c.nVisible = len(in.View.Host)
		if c.nVisible == 0 {
			for rest := host; len(rest) > 0; {
				var line []byte
				line, rest = nextLine(rest)
				if kind, _, _ := classifyStatLine(line); kind == cpuLine {
					c.nVisible++
				}
			}
		}
	}
	return c
}

// visible reports whether CPU n, the ord'th cpuN line of the host file, is in
// the view, and its index there. An empty view shows every CPU.
func (c *statCalc) visible(n, ord int) (int, bool) {
	if len(c.in.View.Host) == 0 {
		return ord, true
	}
	return containsCPU(c.in.View.Host, n)
}

// statRow is one cpuN line's values.
type statRow struct {
	vals  [maxStatCols]uint64
	n     int  // values in vals
	synth bool // computed from usage rather than the host's fields
}

// row parses the host fields after the name at line[nameEnd:] and, with
// usage, computes the container's values for CPU n at index idx of the view.
func (c *statCalc) row(line []byte, nameEnd, n, idx int) statRow {
	var r statRow
	for i := nameEnd; ; {
		i = skipBlanks(line, i)
		if i >= len(line) || line[i] == '\n' {
			break
		}
		v, end, ok := parseUint(line, i)
		if !ok || (end < len(line) && !isBlank(line[end]) && line[end] != '\n') {
			break
		}
		if r.n < maxStatCols {
			r.vals[r.n] = v
			r.n++
		}
		i = end
	}
	if t := c.in.Times; t != nil && r.n >= 4 {
		if idx >= len(t) {
			return statRow{n: minStatCols, synth: true}
		}
		return statRow{
			vals:  [maxStatCols]uint64{0: t[idx].User, 2: t[idx].System, 3: t[idx].Idle},
			n:     minStatCols,
			synth: true,
		}
	}
	if c.in.Usage == nil || r.n < 4 {
		return r
	}
	user, system := c.usage(n, idx)
	var hostUsed uint64
	for i := range min(r.n, minStatCols) {
		if i != 3 {
			hostUsed = satAdd(hostUsed, r.vals[i])
		}
	}
	idle := r.vals[3]
	if cg := satAdd(user, system); hostUsed >= cg {
		idle = satAdd(idle, hostUsed-cg)
	}
	return statRow{
		vals:  [maxStatCols]uint64{0: user, 2: system, 3: idle},
		n:     minStatCols,
		synth: true,
	}
}

// usage is the container's user and system ticks on CPU n, at index idx of
// the view.
func (c *statCalc) usage(n, idx int) (user, system uint64) {
	if !c.spread {
		per := c.in.Usage.PerCPU
		if n >= len(per) {
			return 0, 0
		}
		return nsToTicks(per[n].UserNanos, c.ct), nsToTicks(per[n].SystemNanos, c.ct)
	}
	if c.nVisible <= 0 {
		return 0, 0
	}
	share := func(total uint64) uint64 {
		v, rem := total/uint64(c.nVisible), total%uint64(c.nVisible)
		if uint64(idx) < rem {
			v++
		}
		return v
	}
	return share(c.userTicks), share(c.sysTicks)
}

// nsToTicks converts nanoseconds to clock ticks, truncating, without
// overflow.
func nsToTicks(ns, ticksPerSec uint64) uint64 {
	hi, lo := bits.Mul64(ns, ticksPerSec)
	if hi >= 1e9 {
		return 1<<64 - 1
	}
	q, _ := bits.Div64(hi, lo, 1e9)
	return q
}

// appendOtherStatLine copies a non-cpu line, replacing the task counts and
// the boot time with the container's. A btime line that does not parse is
// kept.
func appendOtherStatLine(dst, line []byte, t *hostcgroup.Tasks, boot *Boot) []byte {
	if boot != nil && bytes.HasPrefix(line, []byte("btime ")) {
		if v, end, ok := parseUint(line, skipBlanks(line, len("btime "))); ok && (end == len(line) || line[end] == '\n') {
			dst = append(dst, "btime "...)
			dst = strconv.AppendUint(dst, boot.Btime(v), 10)
			return append(dst, '\n')
		}
	}
	if t != nil {
		switch {
		case bytes.HasPrefix(line, []byte("procs_running ")):
			dst = append(dst, "procs_running "...)
			dst = strconv.AppendInt(dst, int64(t.Running), 10)
			return append(dst, '\n')
		case bytes.HasPrefix(line, []byte("procs_blocked ")):
			dst = append(dst, "procs_blocked "...)
			dst = strconv.AppendInt(dst, int64(t.Blocked), 10)
			return append(dst, '\n')
		}
	}
	return append(dst, line...)
}

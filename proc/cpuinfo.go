package proc

import (
	"bytes"
	"strconv"
)

// CPUInfo appends the container's /proc/cpuinfo to dst: the host's blocks
// for the CPUs in v.Host, in host order, renumbered from 0.
//
// A block starts at a line "processor : N" (blanks around the colon as the
// architecture prints them: x86, arm64, ppc64, riscv, mips) and runs to the
// next one, its blank separator line included. A kept block's first line
// becomes "processor\t: <k>" with k counting kept blocks from 0; its other
// lines are the host's, so topology fields (physical id, siblings, core id,
// cpu cores, apicid) keep host values, as in lxcfs. Lines before the first
// block and "# processors" lines are dropped (lxcfs does the same).
//
// The cpuset is the effective one (v1 cpuset.effective_cpus, v2
// cpuset.cpus.effective); under --enable-cfs the view is also cut to the CFS
// quota (NewCPUView). An empty v.Host, or a host file with no processor line
// (sparc and alpha print no per-CPU blocks), gives the host file: lxcfs gives
// an empty file for the latter.
//
// s390x (first line containing "IBM/S390") has a header, one
// "processor N: version = ..." line per CPU, then per-CPU blocks starting
// with "cpu number : N". The header is kept with "# processors" set to the
// number of CPUs kept; processor lines and cpu number blocks of other CPUs
// are dropped, and the kept ones renumbered. lxcfs filters the processor
// lines only and shows every host CPU's "cpu number" block.
func CPUInfo(dst, host []byte, v CPUView) []byte {
	if len(v.Host) == 0 {
		return append(dst, host...)
	}
	if bytes.Contains(firstLine(host), []byte("IBM/S390")) {
		return cpuinfoS390(dst, host, v)
	}
	start := len(dst)
	found := false
	keep := false
	k := 0
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if n, ok := processorLine(line); ok {
			found = true
			_, keep = containsCPU(v.Host, n)
			if keep {
				dst = append(dst, "processor\t: "...)
				dst = strconv.AppendInt(dst, int64(k), 10)
				dst = append(dst, '\n')
				k++
			}
			continue
		}
		if keep && !bytes.HasPrefix(line, []byte("# processors")) {
			dst = append(dst, line...)
		}
	}
	if !found {
		return append(dst[:start], host...)
	}
	return dst
}

// processorLine parses "processor<blanks>:<blanks>N", the start of a CPU's
// block on every architecture but s390x. Like lxcfs's sscanf, it ignores
// what follows the number.
func processorLine(line []byte) (int, bool) {
	const p = "processor"
	if !bytes.HasPrefix(line, []byte(p)) {
		return 0, false
	}
	i := skipBlanks(line, len(p))
	if i >= len(line) || line[i] != ':' {
		return 0, false
	}
	return cpuNumber(line, skipBlanks(line, i+1))
}

// cpuNumber parses a CPU number at line[i:].
func cpuNumber(line []byte, i int) (int, bool) {
	n, _, ok := parseUint(line, i)
	if !ok || n > 1<<20 {
		return 0, false
	}
	return int(n), true
}

// s390ProcessorLine parses s390x's "processor N: ...", returning N and the
// index of the number's first digit and of the byte after its last.
func s390ProcessorLine(line []byte) (n, from, to int, ok bool) {
	const p = "processor"
	if !bytes.HasPrefix(line, []byte(p)) {
		return 0, 0, 0, false
	}
	from = skipBlanks(line, len(p))
	v, to, ok := parseUint(line, from)
	if !ok || v > 1<<20 {
		return 0, 0, 0, false
	}
	if j := skipBlanks(line, to); j >= len(line) || line[j] != ':' {
		return 0, 0, 0, false
	}
	return int(v), from, to, true
}

// labelNumber parses "<label><blanks>:<blanks>N", returning N and where its
// digits are.
func labelNumber(line []byte, label string) (n, from, to int, ok bool) {
	if !bytes.HasPrefix(line, []byte(label)) {
		return 0, 0, 0, false
	}
	i := skipBlanks(line, len(label))
	if i >= len(line) || line[i] != ':' {
		return 0, 0, 0, false
	}
	from = skipBlanks(line, i+1)
	v, to, ok := parseUint(line, from)
	if !ok || v > 1<<20 {
		return 0, 0, 0, false
	}
	return int(v), from, to, true
}

// appendRenumbered appends line with the number at line[from:to] replaced by
// k.
func appendRenumbered(dst, line []byte, from, to, k int) []byte {
	dst = append(dst, line[:from]...)
	dst = strconv.AppendInt(dst, int64(k), 10)
	return append(dst, line[to:]...)
}

func cpuinfoS390(dst, host []byte, v CPUView) []byte {
	// First pass: how many CPUs will be shown, for "# processors".
	procs, blocks := 0, 0
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if n, _, _, ok := s390ProcessorLine(line); ok {
			if _, in := containsCPU(v.Host, n); in {
				procs++
			}
		} else if n, _, _, ok := labelNumber(line, "cpu number"); ok {
			if _, in := containsCPU(v.Host, n); in {
				blocks++
			}
		}
	}
	count := procs
	if count == 0 {
		count = blocks
	}

	keep := true // the header, up to the first cpu number block
	kp, kb := 0, 0
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if _, from, to, ok := labelNumber(line, "# processors"); ok {
			dst = appendRenumbered(dst, line, from, to, count)
			continue
		}
		if n, from, to, ok := s390ProcessorLine(line); ok {
			if _, in := containsCPU(v.Host, n); in {
				dst = appendRenumbered(dst, line, from, to, kp)
				kp++
			}
			continue
		}
		if n, from, to, ok := labelNumber(line, "cpu number"); ok {
			_, keep = containsCPU(v.Host, n)
			if keep {
				dst = appendRenumbered(dst, line, from, to, kb)
				kb++
			}
			continue
		}
		if keep {
			dst = append(dst, line...)
		}
	}
	return dst
}

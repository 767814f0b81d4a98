package proc

import (
	"bytes"
	"math"
	"slices"
	"strconv"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// The /sys/devices/system/node view (beyond lxcfs): numactl --hardware,
// libnuma and the JVM see the NUMA nodes that hold the container's CPUs,
// with the container's CPUs and memory on them.

// NodeViewCPUs are the CPUs of a NUMA node that the container sees, by the
// numbers it sees them under (0..n-1 when v.Renumber): the node's host CPUs
// (its cpulist) that are in v.Host. Ascending.
func NodeViewCPUs(node hostcgroup.CPUSet, v CPUView) []int {
	var out []int
	for i, c := range v.Host {
		if node.Contains(c) {
			if v.Renumber {
				c = i
			}
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// NodeList appends a node list file (online, possible, has_cpu,
// has_memory, has_normal_memory, ...) to dst: the host's list (host, the
// file's text) restricted to the visible nodes. A host text that does not
// parse gives the visible nodes.
func NodeList(dst, host []byte, visible []int) []byte {
	var keep []int
	if len(bytes.TrimSpace(host)) == 0 {
		// An empty host list (has_generic_initiator on most hosts).
	} else if set, err := hostcgroup.ParseCPUSet(string(bytes.TrimSpace(host))); err == nil {
		for _, n := range visible {
			if set.Contains(n) {
				keep = append(keep, n)
			}
		}
	} else {
		keep = visible
	}
	dst = hostcgroup.AppendCPUList(dst, keep)
	return append(dst, '\n')
}

// NodeCPUList appends nodeN/cpulist: cpus in the kernel's list format.
func NodeCPUList(dst []byte, cpus []int) []byte {
	dst = hostcgroup.AppendCPUList(dst, cpus)
	return append(dst, '\n')
}

// NodeCPUMap appends nodeN/cpumap: cpus as the kernel's hex mask, in the
// shape of the host's (hostMap, e.g. "3" or "00000000,000000ff"): as many
// hex digits, commas at the same places. CPUs beyond the host mask's width
// are left out; a host text without hex digits gives the shortest mask.
func NodeCPUMap(dst, hostMap []byte, cpus []int) []byte {
	shape := bytes.TrimSpace(hostMap)
	digits := 0
	for _, c := range shape {
		if c != ',' {
			digits++
		}
	}
	if digits == 0 {
		m := 0
		for _, c := range cpus {
			m = max(m, c+1)
		}
		digits = max(1, (m+3)/4)
		shape = bytes.Repeat([]byte{'0'}, digits)
	}
	nibble := func(i int) byte { // i counts hex digits from the least significant
		var v byte
		for _, c := range cpus {
			if c/4 == i {
				v |= 1 << (c % 4)
			}
		}
		return "0123456789abcdef"[v]
	}
	i := digits - 1
	for _, c := range shape {
		if c == ',' {
			dst = append(dst, ',')
			continue
		}
		dst = append(dst, nibble(i))
		i--
	}
	return append(dst, '\n')
}

// NodeMeminfo appends nodeN/meminfo to dst, using the host node's file
// (host, "Node N Key:   value kB" lines) as the template and the
// container's /proc/meminfo as served (container) for the values, each
// scaled by share (the node's part of the container's memory: 1 with one
// visible node, else the node's part of the visible nodes' host MemTotal,
// since the kernel's per-node split of a cgroup's memory, memory.numa_stat,
// is not read). Rules:
//
//	MemTotal, MemFree, Active*, Inactive*, Unevictable, Mlocked, Dirty,
//	Writeback, Mapped, AnonPages, Shmem, KernelStack, PageTables, Slab,
//	SReclaimable, SUnreclaim, KReclaimable, AnonHugePages, ... = the
//	                container's field of the same name
//	MemUsed       = MemTotal - MemFree
//	FilePages     = Cached + Buffers + SwapCached (the kernel's
//	                NR_FILE_PAGES, which meminfo's Cached excludes the others from)
//	HugePages_*   = the host node's (the pool is the host's, as in meminfo)
//	anything else = 0 (never the host's)
//
// A host line that does not parse is dropped.
func NodeMeminfo(dst, host, container []byte, share float64) []byte {
	vals := map[string]uint64{}
	for rest := container; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseUint(string(f[0]), 10, 64); err == nil {
			vals[string(bytes.TrimSpace(k))] = n
		}
	}
	scale := func(v uint64) uint64 {
		if share >= 1 || share <= 0 || math.IsNaN(share) {
			return v
		}
		return uint64(math.Round(float64(v) * share))
	}
	total, free := scale(vals["MemTotal"]), scale(vals["MemFree"])
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		line = trimEOL(line)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		f := bytes.Fields(line[:colon])
		if len(f) != 3 || string(f[0]) != "Node" {
			continue
		}
		key := string(f[2])
		valStart := skipBlanks(line, colon+1)
		valEnd := valStart
		for valEnd < len(line) && line[valEnd] >= '0' && line[valEnd] <= '9' {
			valEnd++
		}
		if valEnd == valStart {
			continue
		}
		var v uint64
		switch key {
		case "MemTotal":
			v = total
		case "MemFree":
			v = free
		case "MemUsed":
			v = total - min(free, total)
		case "FilePages":
			v = scale(vals["Cached"] + vals["Buffers"] + vals["SwapCached"])
		case "HugePages_Total", "HugePages_Free", "HugePages_Surp":
			v, _ = strconv.ParseUint(string(line[valStart:valEnd]), 10, 64)
		default:
			v = scale(vals[key])
		}
		// Keep the host's column: right-align in the host value's width.
		num := strconv.AppendUint(nil, v, 10)
		dst = append(dst, line[:colon+1]...)
		for pad := max(1, valEnd-(colon+1)-len(num)); pad > 0; pad-- {
			dst = append(dst, ' ')
		}
		dst = append(dst, num...)
		dst = append(dst, line[valEnd:]...)
		dst = append(dst, '\n')
	}
	return dst
}

package proc

import (
	"bytes"
	"math/bits"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// Meminfo appends the container's /proc/meminfo to dst, using the host's
// /proc/meminfo as the template: every line keeps its place and label, and
// every value is the container's, derived from the container's by a rule
// that keeps the file self-consistent, or 0 (nothing of the host's usage is
// left). A nil mem (no memory controller, unreadable files) gives the host
// file.
//
// Values are kB, bytes/1024 truncated. "limit" is min(memory limit) over the
// cgroup and its ancestors (v1 memory.limit_in_bytes, v2 memory.max),
// "usage" is v1 memory.usage_in_bytes or v2 memory.current, and the other
// names are memory.stat keys (v1 total_*, v2 plain; see hostcgroup.MemoryStat).
// "capped" means at most MemTotal: a cgroup counter read a moment after the
// limit can exceed it, a container's memory cannot.
//
//	MemTotal       min(limit, host MemTotal); host MemTotal when unlimited
//	MemFree        MemTotal - min(usage, MemTotal)
//	MemAvailable   min(MemFree + (active_file + inactive_file + slab_reclaimable)/1024, MemTotal)
//	Buffers        0 (cgroups do not account buffers apart from file pages)
//	Cached         cache - swapcached, capped (the kernel's Cached leaves out the swap cache)
//	SwapCached     swapcached, capped
//	Active         Active(anon) + Active(file), capped
//	Inactive       Inactive(anon) + Inactive(file), capped
//	Active(anon), Inactive(anon), Active(file), Inactive(file), Unevictable: the same keys, capped
//	Mlocked        = Unevictable: mlocked pages live on the unevictable list, and
//	               memory.stat does not count them apart (an upper bound)
//	SwapTotal      see swapKB; 0 with opt.SwapOff or without swap accounting
//	SwapFree       SwapTotal - swap usage
//	Zswap          zswap (v2) when the kernel accounts it and !opt.ZswapOff, else 0; capped
//	Zswapped       zswapped, likewise (uncompressed size: not capped)
//	Dirty          v1 total_dirty, v2 file_dirty; capped
//	Writeback      v1 total_writeback, v2 file_writeback; capped
//	AnonPages      max(active_anon + inactive_anon - shmem, 0), capped
//	Mapped         v1 total_mapped_file, v2 file_mapped; capped
//	Shmem          v1 total_shmem, v2 shmem; capped
//	KReclaimable   = SReclaimable: the other reclaimable kernel memory is not
//	               counted per cgroup
//	Slab           SReclaimable + SUnreclaim, capped
//	SReclaimable, SUnreclaim: v2 slab_reclaimable, slab_unreclaimable, capped; 0 on v1
//	KernelStack, PageTables, SecPageTables, Percpu: v2 kernel_stack,
//	               pagetables, sec_pagetables, percpu, capped; 0 on v1
//	VmallocUsed    v2 vmalloc, capped; 0 on v1
//	AnonHugePages  v1 total_rss_huge, v2 anon_thp; capped
//	ShmemHugePages v2 shmem_thp, capped; 0 on v1
//	FileHugePages  v2 file_thp, capped; 0 on v1
//	CommitLimit    MemTotal x r + SwapTotal, where r = (host CommitLimit - host
//	               SwapTotal) / host MemTotal is the host's overcommit ratio
//	Committed_AS   AnonPages + Shmem + swap used: the committed memory the
//	               container has touched (a lower bound: reservations it has
//	               not touched are not counted per cgroup)
//	DirectMap4k, DirectMap2M, DirectMap1G: the host's, scaled so that they sum
//	               to at most MemTotal (the split of the direct map by page size)
//	VmallocTotal, Hugepagesize: the host's, which are sizes of the kernel (the
//	               vmalloc address space, the default huge page), not usage
//	HugePages_Total, HugePages_Free, HugePages_Rsvd, HugePages_Surp, Hugetlb:
//	               the host's pool, which the container allocates huge pages
//	               from (hugetlb cgroup limits are not applied)
//	NFS_Unstable, Bounce, WritebackTmp, VmallocChunk, ShadowCallStack,
//	HardwareCorrupted, ShmemPmdMapped, FilePmdMapped, CmaTotal, CmaFree,
//	Unaccepted, Balloon, and any other " kB" line: 0
//
// Other lines without " kB" (none on current kernels) are copied. A
// rewritten line is formatted as the kernel does it, the label
// left-justified in 16 columns and the value right-justified in 8, then
// " kB". MeminfoRules lists the rule of each label.
//
// Where this differs from lxcfs 5.0.3:
//   - MemAvailable uses the lxcfs 6.0/7.0 formula (file LRU plus reclaimable
//     slab), where 5.0.3 adds cache; and it is capped at MemTotal.
//   - Usage above the limit (possible for a moment, and in kmem-heavy v1
//     cgroups) gives MemFree 0, not an unsigned wrap-around; AnonPages is
//     floored at 0 likewise.
//   - v1 SwapTotal is the swap share alone (memsw limit - memory limit), not
//     the memory+swap limit; see swapKB.
//   - On v2, Mapped, Dirty, Writeback and AnonHugePages come from memory.stat
//     (lxcfs prints 0), Slab/SReclaimable/SUnreclaim from memory.stat (5.0.3
//     prints 0 everywhere), and Zswap/Zswapped are the cgroup's (5.0.3 shows
//     the host's).
//   - lxcfs copies the host's Mlocked, KReclaimable, KernelStack,
//     PageTables, CommitLimit, Committed_AS, Vmalloc*, Percpu, FileHugePages,
//     Cma*, DirectMap* and the rest; here each follows the rules above.
func Meminfo(dst, host []byte, mem *hostcgroup.Memory, opt Options) []byte {
	if mem == nil {
		return append(dst, host...)
	}
	h := scanMeminfo(host, true)
	v, ok := newMemView(h, mem, opt)
	if !ok {
		return append(dst, host...)
	}
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		label, ok := meminfoLabel(line)
		if !ok {
			dst = append(dst, line...)
			continue
		}
		kb, ok := v.value(label, line)
		if !ok {
			dst = append(dst, line...)
			continue
		}
		dst = appendMeminfoLine(dst, label, kb)
	}
	return dst
}

// Swaps appends the container's /proc/swaps to dst: the host's header line,
// then, when the container has swap, one line for a virtual device whose
// size and use are meminfo's SwapTotal and SwapTotal - SwapFree:
//
//	none<36 spaces>virtual\t\t<size kB>\t<used kB>\t0
//
// That is lxcfs's line, so `awk '{print $3}'` gives the size. hostMeminfo is
// the host's /proc/meminfo, for its SwapTotal. A nil mem gives the host file.
//
// Where this differs from lxcfs 5.0.3: the header is the kernel's own (lxcfs
// prints single tabs before Used and Priority); the size is the swap share
// alone on v1 and v2 (5.0.3 adds the memory limit on both); without a swap
// limit the size is the host's SwapTotal and the use is the container's (5.0.3
// prints the host's SwapFree in the Used column).
func Swaps(dst, hostSwaps, hostMeminfo []byte, mem *hostcgroup.Memory, opt Options) []byte {
	if mem == nil {
		return append(dst, hostSwaps...)
	}
	if header := firstLine(hostSwaps); bytes.HasPrefix(header, []byte("Filename")) {
		dst = append(dst, header...)
		dst = append(dst, '\n')
	} else {
		dst = append(dst, swapsHeader...)
	}
	total, used := swapKB(mem, opt, scanMeminfo(hostMeminfo, false))
	if total == 0 {
		return dst
	}
	dst = append(dst, "none"...)
	dst = appendSpaces(dst, 36)
	dst = append(dst, "virtual\t\t"...)
	dst = appendUintPadded(dst, total, 0)
	dst = append(dst, '\t')
	dst = appendUintPadded(dst, used, 0)
	return append(dst, "\t0\n"...)
}

// swapsHeader is the kernel's header line of /proc/swaps.
const swapsHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"

// hostMem is what the renderers need from the host's /proc/meminfo.
type hostMem struct {
	totalKB     uint64 // MemTotal
	hasTotal    bool
	swapTotalKB uint64 // SwapTotal; 0 when absent or unparseable
	// commitLimitKB is CommitLimit, directMapKB the sum of the DirectMap*
	// lines (saturating); 0 when absent. Only a full scan reads them.
	commitLimitKB uint64
	directMapKB   uint64
}

// scanMeminfo finds the host's MemTotal and SwapTotal, and with full also
// CommitLimit and the DirectMap sum. The first line of each counts; an
// unparseable value counts as absent.
func scanMeminfo(host []byte, full bool) hostMem {
	var h hostMem
	var seenTotal, seenSwap, seenCommit bool
	for rest := host; len(rest) > 0 && (full || !(seenTotal && seenSwap)); {
		var line []byte
		line, rest = nextLine(rest)
		label, ok := meminfoLabel(line)
		if !ok {
			continue
		}
		switch string(label) {
		case "MemTotal:":
			if !seenTotal {
				seenTotal = true
				h.totalKB, h.hasTotal = meminfoValue(line, len(label))
			}
		case "SwapTotal:":
			if !seenSwap {
				seenSwap = true
				h.swapTotalKB, _ = meminfoValue(line, len(label))
			}
		case "CommitLimit:":
			if !seenCommit {
				seenCommit = true
				h.commitLimitKB, _ = meminfoValue(line, len(label))
			}
		case "DirectMap4k:", "DirectMap2M:", "DirectMap4M:", "DirectMap1G:":
			v, _ := meminfoValue(line, len(label))
			h.directMapKB = satAdd(h.directMapKB, v)
		}
	}
	return h
}

// meminfoLabel returns the label of a meminfo line, up to and including its
// colon. Lines without a colon, or with a blank in the label, have none.
func meminfoLabel(line []byte) ([]byte, bool) {
	for i, c := range line {
		switch c {
		case ':':
			if i == 0 {
				return nil, false
			}
			return line[:i+1], true
		case ' ', '\t', '\n':
			return nil, false
		}
	}
	return nil, false
}

// meminfoValue parses the number after the label.
func meminfoValue(line []byte, labelLen int) (uint64, bool) {
	v, _, ok := parseUint(line, skipBlanks(line, labelLen))
	return v, ok
}

// appendMeminfoLine formats a line as the kernel's show_val_kb does:
// "%-16s%8lu kB\n" with the label including its colon.
func appendMeminfoLine(dst, label []byte, kb uint64) []byte {
	dst = append(dst, label...)
	dst = appendSpaces(dst, 16-len(label))
	dst = appendUintPadded(dst, kb, 8)
	return append(dst, " kB\n"...)
}

// memView holds the container's values, in kB.
type memView struct {
	totalKB, freeKB, availKB uint64
	swapTotalKB, swapFreeKB  uint64
	zswap                    bool
	st                       *hostcgroup.MemoryStat
	h                        hostMem
}

// newMemView computes the values that need the host's totals. ok is false
// when MemTotal cannot be known: no limit and no usable host MemTotal.
func newMemView(h hostMem, mem *hostcgroup.Memory, opt Options) (memView, bool) {
	v := memView{st: &mem.Stat, zswap: mem.Stat.HasZswap && !opt.ZswapOff, h: h}
	switch {
	case !mem.Limit.Unlimited && h.hasTotal:
		v.totalKB = min(mem.Limit.Value/1024, h.totalKB)
	case !mem.Limit.Unlimited:
		v.totalKB = mem.Limit.Value / 1024
	case h.hasTotal:
		v.totalKB = h.totalKB
	default:
		return v, false
	}
	v.freeKB = v.totalKB - min(mem.UsageBytes/1024, v.totalKB)
	reclaimable := satAdd(mem.Stat.ActiveFileBytes, mem.Stat.InactiveFileBytes)
	if mem.Stat.HasSlab {
		reclaimable = satAdd(reclaimable, mem.Stat.SlabReclaimableBytes)
	}
	v.availKB = min(satAdd(v.freeKB, reclaimable/1024), v.totalKB)
	total, used := swapKB(mem, opt, h)
	v.swapTotalKB, v.swapFreeKB = total, total-used
	return v, true
}

// swapKB returns the container's swap size and use in kB, the same for
// meminfo and swaps. The swap limit is swap alone on v1 and v2 (hostcgroup
// derives the v1 share from memsw); it is min(swap limit, host SwapTotal),
// the host's SwapTotal when unlimited, and 0 with opt.SwapOff or without swap
// accounting. Use is clamped to the size. A swappiness of 0 (v1 only) means
// the container will not swap: the size is then what is already swapped.
//
// lxcfs differs on v1, where SwapTotal is the memsw (memory+swap) limit
// clamped to the host's SwapTotal.
func swapKB(mem *hostcgroup.Memory, opt Options, h hostMem) (total, used uint64) {
	if opt.SwapOff || mem.Swap == nil {
		return 0, 0
	}
	total = h.swapTotalKB
	if !mem.Swap.Limit.Unlimited {
		total = min(total, mem.Swap.Limit.Value/1024)
	}
	used = min(mem.Swap.UsageBytes/1024, total)
	if mem.Swappiness == 0 {
		total = used
	}
	return total, used
}

// capped converts bytes to kB, at most MemTotal.
func (v *memView) capped(bytes uint64) uint64 { return min(bytes/1024, v.totalKB) }

// slabKB is SReclaimable and SUnreclaim: 0 without slab counters (v1).
func (v *memView) slabKB() (reclaimable, unreclaimable uint64) {
	if !v.st.HasSlab {
		return 0, 0
	}
	return v.capped(v.st.SlabReclaimableBytes), v.capped(v.st.SlabUnreclaimableBytes)
}

func (v *memView) anonKB() uint64 {
	st := v.st
	return v.capped(satSub(satAdd(st.ActiveAnonBytes, st.InactiveAnonBytes), st.ShmemBytes))
}

// value returns the container's value for a meminfo label (line is the
// host's line); ok is false for the lines copied from the host: those
// without " kB" that no rule names.
func (v *memView) value(label, line []byte) (kb uint64, ok bool) {
	st := v.st
	switch string(label) {
	case "MemTotal:":
		return v.totalKB, true
	case "MemFree:":
		return v.freeKB, true
	case "MemAvailable:":
		return v.availKB, true
	case "Cached:":
		return v.capped(satSub(st.CacheBytes, st.SwapCachedBytes)), true
	case "SwapCached:":
		return v.capped(st.SwapCachedBytes), true
	case "Active:":
		return min(v.capped(st.ActiveAnonBytes)+v.capped(st.ActiveFileBytes), v.totalKB), true
	case "Inactive:":
		return min(v.capped(st.InactiveAnonBytes)+v.capped(st.InactiveFileBytes), v.totalKB), true
	case "Active(anon):":
		return v.capped(st.ActiveAnonBytes), true
	case "Inactive(anon):":
		return v.capped(st.InactiveAnonBytes), true
	case "Active(file):":
		return v.capped(st.ActiveFileBytes), true
	case "Inactive(file):":
		return v.capped(st.InactiveFileBytes), true
	case "Unevictable:", "Mlocked:":
		return v.capped(st.UnevictableBytes), true
	case "SwapTotal:":
		return v.swapTotalKB, true
	case "SwapFree:":
		return v.swapFreeKB, true
	case "Zswap:":
		if !v.zswap {
			return 0, true
		}
		return v.capped(st.ZswapBytes), true
	case "Zswapped:":
		if !v.zswap {
			return 0, true
		}
		return st.ZswappedBytes / 1024, true
	case "Dirty:":
		return v.capped(st.DirtyBytes), true
	case "Writeback:":
		return v.capped(st.WritebackBytes), true
	case "AnonPages:":
		return v.anonKB(), true
	case "Mapped:":
		return v.capped(st.MappedBytes), true
	case "Shmem:":
		return v.capped(st.ShmemBytes), true
	case "AnonHugePages:":
		return v.capped(st.AnonHugeBytes), true
	case "ShmemHugePages:":
		return v.capped(st.ShmemHugeBytes), true
	case "FileHugePages:":
		return v.capped(st.FileHugeBytes), true
	case "Slab:":
		r, u := v.slabKB()
		return min(r+u, v.totalKB), true
	case "SReclaimable:", "KReclaimable:":
		r, _ := v.slabKB()
		return r, true
	case "SUnreclaim:":
		_, u := v.slabKB()
		return u, true
	case "KernelStack:":
		return v.capped(st.KernelStackBytes), true
	case "PageTables:":
		return v.capped(st.PageTablesBytes), true
	case "SecPageTables:":
		return v.capped(st.SecPageTablesBytes), true
	case "Percpu:":
		return v.capped(st.PercpuBytes), true
	case "VmallocUsed:":
		return v.capped(st.VmallocBytes), true
	case "CommitLimit:":
		return v.commitLimitKB(), true
	case "Committed_AS:":
		return satAdd(satAdd(v.anonKB(), v.capped(st.ShmemBytes)), v.swapTotalKB-v.swapFreeKB), true
	case "DirectMap4k:", "DirectMap2M:", "DirectMap4M:", "DirectMap1G:":
		host, ok := meminfoValue(line, len(label))
		if !ok || v.h.directMapKB == 0 {
			return 0, true
		}
		return mulDiv(host, min(v.totalKB, v.h.directMapKB), v.h.directMapKB), true
	case "VmallocTotal:", "Hugepagesize:", "Hugetlb:",
		"HugePages_Total:", "HugePages_Free:", "HugePages_Rsvd:", "HugePages_Surp:":
		return 0, false
	}
	// Buffers, NFS_Unstable, Bounce, WritebackTmp, VmallocChunk, ... and
	// whatever a newer kernel adds: a size the container has no counter for.
	if bytes.HasSuffix(line, []byte(" kB\n")) || bytes.HasSuffix(line, []byte(" kB")) {
		return 0, true
	}
	return 0, false
}

// commitLimitKB is MemTotal x the host's overcommit ratio + SwapTotal. The
// ratio is (host CommitLimit - host SwapTotal) / host MemTotal: the kernel's
// vm.overcommit_ratio (or overcommit_kbytes) as the host applies it.
func (v *memView) commitLimitKB() uint64 {
	h := v.h
	var ram uint64
	if h.hasTotal && h.totalKB > 0 {
		ram = mulDiv(v.totalKB, satSub(h.commitLimitKB, h.swapTotalKB), h.totalKB)
	}
	return satAdd(ram, v.swapTotalKB)
}

// mulDiv is a*b/c without overflow, saturating; c must not be 0.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return 1<<64 - 1
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}

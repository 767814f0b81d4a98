package proc

import (
	"bytes"

	"github.com/lxcfs-go/lxcfs-go/cgroupview"
)

// Meminfo appends the container's /proc/meminfo to dst, using the host's
// /proc/meminfo as the template: every line keeps its place, and lines the
// container does not change are copied byte for byte. A nil mem (no memory
// controller, unreadable files) gives the host file.
//
// Values are kB, bytes/1024 truncated. "limit" is min(memory limit) over the
// cgroup and its ancestors (v1 memory.limit_in_bytes, v2 memory.max),
// "usage" is v1 memory.usage_in_bytes or v2 memory.current, and the other
// names are memory.stat keys (v1 total_*, v2 plain; see cgroupview.MemoryStat):
//
//	MemTotal       min(limit, host MemTotal); host MemTotal when unlimited
//	MemFree        MemTotal - min(usage, MemTotal)
//	MemAvailable   min(MemFree + (active_file + inactive_file + slab_reclaimable)/1024, MemTotal)
//	Buffers        0
//	Cached         cache (v1 total_cache, v2 file)
//	SwapCached     0
//	Active         active_anon + active_file
//	Inactive       inactive_anon + inactive_file
//	Active(anon), Inactive(anon), Active(file), Inactive(file), Unevictable: the same keys
//	SwapTotal      see swapKB; 0 with opt.SwapOff or without swap accounting
//	SwapFree       SwapTotal - swap usage
//	Zswap          zswap (v2) when the kernel accounts it and !opt.ZswapOff, else 0
//	Zswapped       zswapped, likewise
//	Dirty          v1 total_dirty, v2 file_dirty
//	Writeback      v1 total_writeback, v2 file_writeback
//	AnonPages      max(active_anon + inactive_anon - shmem, 0)
//	Mapped         v1 total_mapped_file, v2 file_mapped
//	Shmem          v1 total_shmem, v2 shmem
//	Slab, SReclaimable, SUnreclaim: v2 slab, slab_reclaimable, slab_unreclaimable; 0 on v1
//	AnonHugePages  v1 total_rss_huge, v2 anon_thp
//	ShmemHugePages, ShmemPmdMapped: 0
//
// Every other line (Mlocked, KernelStack, CommitLimit, HugePages_*, ...) is
// the host's. A rewritten line is formatted as the kernel does it, the label
// left-justified in 16 columns and the value right-justified in 8, then " kB".
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
func Meminfo(dst, host []byte, mem *cgroupview.Memory, opt Options) []byte {
	if mem == nil {
		return append(dst, host...)
	}
	h := scanMeminfo(host)
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
		kb, ok := v.value(label)
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
func Swaps(dst, hostSwaps, hostMeminfo []byte, mem *cgroupview.Memory, opt Options) []byte {
	if mem == nil {
		return append(dst, hostSwaps...)
	}
	if header := firstLine(hostSwaps); bytes.HasPrefix(header, []byte("Filename")) {
		dst = append(dst, header...)
		dst = append(dst, '\n')
	} else {
		dst = append(dst, swapsHeader...)
	}
	total, used := swapKB(mem, opt, scanMeminfo(hostMeminfo))
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
}

// scanMeminfo finds the host's MemTotal and SwapTotal. The first line of each
// counts; an unparseable value counts as absent.
func scanMeminfo(host []byte) hostMem {
	var h hostMem
	var seenTotal, seenSwap bool
	for rest := host; len(rest) > 0 && !(seenTotal && seenSwap); {
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
	st                       *cgroupview.MemoryStat
}

// newMemView computes the values that need the host's totals. ok is false
// when MemTotal cannot be known: no limit and no usable host MemTotal.
func newMemView(h hostMem, mem *cgroupview.Memory, opt Options) (memView, bool) {
	v := memView{st: &mem.Stat, zswap: mem.Stat.HasZswap && !opt.ZswapOff}
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
// meminfo and swaps. The swap limit is swap alone on v1 and v2 (cgroupview
// derives the v1 share from memsw); it is min(swap limit, host SwapTotal),
// the host's SwapTotal when unlimited, and 0 with opt.SwapOff or without swap
// accounting. Use is clamped to the size. A swappiness of 0 (v1 only) means
// the container will not swap: the size is then what is already swapped.
//
// lxcfs differs on v1, where SwapTotal is the memsw (memory+swap) limit
// clamped to the host's SwapTotal.
func swapKB(mem *cgroupview.Memory, opt Options, h hostMem) (total, used uint64) {
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

// value returns the container's value for a meminfo label; ok is false for
// the lines copied from the host.
func (v *memView) value(label []byte) (kb uint64, ok bool) {
	st := v.st
	switch string(label) {
	case "MemTotal:":
		return v.totalKB, true
	case "MemFree:":
		return v.freeKB, true
	case "MemAvailable:":
		return v.availKB, true
	case "Buffers:", "SwapCached:", "ShmemHugePages:", "ShmemPmdMapped:":
		return 0, true
	case "Cached:":
		return st.CacheBytes / 1024, true
	case "Active:":
		return satAdd(st.ActiveAnonBytes, st.ActiveFileBytes) / 1024, true
	case "Inactive:":
		return satAdd(st.InactiveAnonBytes, st.InactiveFileBytes) / 1024, true
	case "Active(anon):":
		return st.ActiveAnonBytes / 1024, true
	case "Inactive(anon):":
		return st.InactiveAnonBytes / 1024, true
	case "Active(file):":
		return st.ActiveFileBytes / 1024, true
	case "Inactive(file):":
		return st.InactiveFileBytes / 1024, true
	case "Unevictable:":
		return st.UnevictableBytes / 1024, true
	case "SwapTotal:":
		return v.swapTotalKB, true
	case "SwapFree:":
		return v.swapFreeKB, true
	case "Zswap:":
		if !v.zswap {
			return 0, true
		}
		return st.ZswapBytes / 1024, true
	case "Zswapped:":
		if !v.zswap {
			return 0, true
		}
		return st.ZswappedBytes / 1024, true
	case "Dirty:":
		return st.DirtyBytes / 1024, true
	case "Writeback:":
		return st.WritebackBytes / 1024, true
	case "AnonPages:":
		return satSub(satAdd(st.ActiveAnonBytes, st.InactiveAnonBytes), st.ShmemBytes) / 1024, true
	case "Mapped:":
		return st.MappedBytes / 1024, true
	case "Shmem:":
		return st.ShmemBytes / 1024, true
	case "AnonHugePages:":
		return st.AnonHugeBytes / 1024, true
	case "Slab:":
		if !st.HasSlab {
			return 0, true
		}
		return st.SlabBytes / 1024, true
	case "SReclaimable:":
		if !st.HasSlab {
			return 0, true
		}
		return st.SlabReclaimableBytes / 1024, true
	case "SUnreclaim:":
		if !st.HasSlab {
			return 0, true
		}
		return st.SlabUnreclaimableBytes / 1024, true
	}
	return 0, false
}

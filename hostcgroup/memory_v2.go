package hostcgroup

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/lxcfs-go/lxcfs-go/fallback"
)

// memoryV2 reads a cgroup2 memory cgroup. The cgroup's own memory.current
// and memory.stat must be readable (the root cgroup has no memory.current,
// so a process in the root gets no Memory); memory.max is the minimum over
// d and its ancestors, where the root has none.
func (v *View) memoryV2(d cgroupDir) (*Memory, error) {
	usage, err := d.readUint("memory.current")
	if err != nil {
		return nil, err
	}
	limit, _, err := minLimit(d, "memory.max")
	if err != nil {
		return nil, err
	}
	b, err := d.read("memory.stat")
	if err != nil {
		return nil, err
	}
	stat, err := ParseMemoryStatV2(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.file("memory.stat"), err)
	}
	m := &Memory{Limit: limit, UsageBytes: usage, Swappiness: -1, Stat: stat}
	if m.Swap, err = swapV2(d); err != nil {
		if v.fallbacks.Report(fallback.Swap) {
			v.log.Debug("swap of cgroup unavailable", "path", d.path, "err", err)
		}
	}
	return m, nil
}

// swapV2 reads memory.swap.current and the minimum memory.swap.max over d
// and its ancestors. It returns nil, nil when the kernel has no swap
// accounting: built without CONFIG_SWAP, or booted with swapaccount=0.
func swapV2(d cgroupDir) (*Swap, error) {
	usage, err := d.readUint("memory.swap.current")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	limit, _, err := minLimit(d, "memory.swap.max")
	if err != nil {
		return nil, err
	}
	return &Swap{Limit: limit, UsageBytes: usage}, nil
}

// ParseMemoryStatV2 parses a cgroup2 memory.stat (always hierarchical).
// HasSlab and HasZswap say whether the slab and zswap keys were present.
// Unknown keys are ignored; a malformed line or a bad value of a used key is
// an error wrapping ErrParse.
func ParseMemoryStatV2(b []byte) (MemoryStat, error) {
	var s MemoryStat
	err := parseFlatKeyed(b, func(key, value []byte) error {
		var p *uint64
		switch string(key) {
		case "file":
			p = &s.CacheBytes
		case "anon":
			p = &s.RSSBytes
		case "anon_thp":
			p = &s.AnonHugeBytes
		case "shmem":
			p = &s.ShmemBytes
		case "file_mapped":
			p = &s.MappedBytes
		case "file_dirty":
			p = &s.DirtyBytes
		case "file_writeback":
			p = &s.WritebackBytes
		case "active_anon":
			p = &s.ActiveAnonBytes
		case "inactive_anon":
			p = &s.InactiveAnonBytes
		case "active_file":
			p = &s.ActiveFileBytes
		case "inactive_file":
			p = &s.InactiveFileBytes
		case "unevictable":
			p = &s.UnevictableBytes
		case "swapcached":
			p = &s.SwapCachedBytes
		case "kernel_stack":
			p = &s.KernelStackBytes
		case "pagetables":
			p = &s.PageTablesBytes
		case "sec_pagetables":
			p = &s.SecPageTablesBytes
		case "percpu":
			p = &s.PercpuBytes
		case "vmalloc":
			p = &s.VmallocBytes
		case "file_thp":
			p = &s.FileHugeBytes
		case "shmem_thp":
			p = &s.ShmemHugeBytes
		case "slab":
			p, s.HasSlab = &s.SlabBytes, true
		case "slab_reclaimable":
			p, s.HasSlab = &s.SlabReclaimableBytes, true
		case "slab_unreclaimable":
			p, s.HasSlab = &s.SlabUnreclaimableBytes, true
		case "zswap":
			p, s.HasZswap = &s.ZswapBytes, true
		case "zswapped":
			p, s.HasZswap = &s.ZswappedBytes, true
		default:
			return nil
		}
		n, err := parseUint(value)
		*p = n
		return err
	})
	if err != nil {
		return MemoryStat{}, err
	}
	return s, nil
}

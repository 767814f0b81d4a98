package hostcgroup

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/lxcfs-go/lxcfs-go/fallback"
	"github.com/lxcfs-go/lxcfs-go/internal/kfile"
)

// memoryV1 reads a cgroup v1 memory cgroup. The cgroup's own usage and
// memory.stat must be readable; the limits are the minimum over d and its
// ancestors, where the root always shows the kernel's "unlimited".
//
// When the hierarchy is mounted from its root, memory.stat's
// hierarchical_memory_limit and hierarchical_memsw_limit are that minimum
// already (mm/memcontrol-v1.c walks every ancestor), which saves reading the
// limit files of every level; without those keys the levels are walked.
func (v *View) memoryV1(d cgroupDir) (*Memory, error) {
	usage, err := d.readUint("memory.usage_in_bytes")
	if err != nil {
		return nil, err
	}
	statName := d.file("memory.stat")
	bp := kfile.GetBuf()
	b, err := d.host.ReadInto(statName, bp)
	if err != nil {
		kfile.PutBuf(bp)
		return nil, err
	}
	var hier hierarchicalV1
	var hp *hierarchicalV1
	if d.wholeTree {
		hp = &hier
	}
	stat, err := parseMemoryStatV1(b, hp)
	kfile.PutBuf(bp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", statName, err)
	}
	limit := hier.memory
	if !hier.hasMemory {
		if limit, _, err = minLimit(d, "memory.limit_in_bytes"); err != nil {
			return nil, err
		}
	}
	m := &Memory{Limit: limit, UsageBytes: usage, Swappiness: -1, Stat: stat}
	if sw, err := d.readUint("memory.swappiness"); err == nil && sw <= 200 {
		m.Swappiness = int(sw)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if v.fallbacks.Report(fallback.Swappiness) {
			v.log.Debug("swappiness of cgroup unavailable", "path", d.path, "err", err)
		}
	}
	if m.Swap, err = swapV1(d, limit, usage, hier); err != nil {
		if v.fallbacks.Report(fallback.Swap) {
			v.log.Debug("swap of cgroup unavailable", "path", d.path, "err", err)
		}
	}
	return m, nil
}

// swapV1 derives swap alone from v1 memory+swap (memsw) accounting. It
// returns nil, nil when the kernel has no memsw files: built without
// CONFIG_MEMCG_SWAP (CONFIG_SWAP off), or booted with swapaccount=0 (the
// Debian and Ubuntu default before cgroup v2 became the default).
func swapV1(d cgroupDir, memLimit Limit, memUsage uint64, hier hierarchicalV1) (*Swap, error) {
	memswUsage, err := d.readUint("memory.memsw.usage_in_bytes")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	memswLimit, found := hier.memsw, hier.hasMemsw
	if !found {
		memswLimit, found, err = minLimit(d, "memory.memsw.limit_in_bytes")
		if err != nil || !found {
			return nil, err
		}
	}
	s := &Swap{}
	switch {
	case memswLimit.Unlimited:
		s.Limit = NoLimit
	case memLimit.Unlimited:
		// Cannot happen (v1 keeps memsw >= memory at every level); memsw
		// then bounds swap alone.
		s.Limit = memswLimit
	case memswLimit.Value > memLimit.Value:
		s.Limit = Bytes(memswLimit.Value - memLimit.Value)
	default:
		s.Limit = Bytes(0)
	}
	if memswUsage > memUsage {
		s.UsageBytes = memswUsage - memUsage
	}
	return s, nil
}

// ParseMemoryStatV1 parses a cgroup v1 memory.stat, taking the hierarchical
// total_* counters (they include the cgroup's descendants, as the limit
// does). Unknown keys are ignored; a malformed line or a bad value of a
// used key is an error wrapping ErrParse.
func ParseMemoryStatV1(b []byte) (MemoryStat, error) {
	return parseMemoryStatV1(b, nil)
}

// parseMemoryStatV1 is ParseMemoryStatV1 that also picks the
// hierarchical_* limits into hier when it is not nil (one pass over the
// text). A hierarchical value that does not parse is left unset.
func parseMemoryStatV1(b []byte, hier *hierarchicalV1) (MemoryStat, error) {
	var s MemoryStat
	err := parseFlatKeyed(b, func(key, value []byte) error {
		var p *uint64
		switch string(key) {
		case "hierarchical_memory_limit", "hierarchical_memsw_limit":
			if hier == nil {
				return nil
			}
			if x, err := ParseLimit(value); err == nil {
				if string(key) == "hierarchical_memory_limit" {
					hier.memory, hier.hasMemory = x, true
				} else {
					hier.memsw, hier.hasMemsw = x, true
				}
			}
			return nil
		case "total_cache":
			p = &s.CacheBytes
		case "total_rss":
			p = &s.RSSBytes
		case "total_rss_huge":
			p = &s.AnonHugeBytes
		case "total_shmem":
			p = &s.ShmemBytes
		case "total_mapped_file":
			p = &s.MappedBytes
		case "total_dirty":
			p = &s.DirtyBytes
		case "total_writeback":
			p = &s.WritebackBytes
		case "total_active_anon":
			p = &s.ActiveAnonBytes
		case "total_inactive_anon":
			p = &s.InactiveAnonBytes
		case "total_active_file":
			p = &s.ActiveFileBytes
		case "total_inactive_file":
			p = &s.InactiveFileBytes
		case "total_unevictable":
			p = &s.UnevictableBytes
		case "total_swapcached":
			p = &s.SwapCachedBytes
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

// slabinfoV1 reads memory.kmem.slabinfo. Current kernels leave it empty
// (0 bytes on 6.18, measured); kernels built without CONFIG_MEMCG_KMEM lack
// it.
func slabinfoV1(d cgroupDir) ([]byte, error) {
	return d.read("memory.kmem.slabinfo")
}

// hierarchicalV1 holds v1 memory.stat's hierarchical_memory_limit and
// hierarchical_memsw_limit: the minimum limits over the cgroup and all its
// ancestors.
type hierarchicalV1 struct {
	memory, memsw       Limit
	hasMemory, hasMemsw bool
}

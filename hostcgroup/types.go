package hostcgroup

// This file holds the version-neutral values that leave this package. cgroup
// v1 and v2 file names never appear here: the readers in *_v1.go and *_v2.go
// translate them into these types.

// Limit is a cgroup limit that may be "max" (no limit). The zero value is a
// limit of 0, which is a real limit; use Unlimited for "no limit".
type Limit struct {
	Value     uint64
	Unlimited bool
}

// NoLimit is the Limit that means "max".
var NoLimit = Limit{Unlimited: true}

// Bytes returns a finite limit.
func Bytes(v uint64) Limit { return Limit{Value: v} }

// Min returns the smaller of two limits; an unlimited limit is larger than
// every finite one.
func (l Limit) Min(o Limit) Limit {
	switch {
	case l.Unlimited:
		return o
	case o.Unlimited:
		return l
	case o.Value < l.Value:
		return o
	}
	return l
}

// Snapshot is what one caller's container looks like at one moment, as far as
// the requested parts go. A nil part means the value could not be computed
// (controller missing, file unreadable, cgroup gone): renderers then use the
// host's value for it.
type Snapshot struct {
	Memory *Memory
	CPU    *CPU
	Usage  *CPUUsage
	// Slabinfo is the content of the v1 memory.kmem.slabinfo file when it is
	// non-empty; nil otherwise (v2 has no such file; kernels since 5.x leave
	// it empty on v1 too).
	Slabinfo []byte
	// Tasks counts the threads of the container's cgroup subtree; nil for
	// the root cgroup (the host's counts apply) or when unreadable.
	Tasks *Tasks
	// IO is the block I/O per device (v1 blkio.throttle.*_recursive, v2
	// io.stat); nil without the controller or when unreadable.
	IO *IO
}

// Memory is the container's memory controller state.
type Memory struct {
	// Limit is the minimum of the memory limit over the cgroup and all its
	// ancestors (v1 memory.limit_in_bytes, v2 memory.max).
	Limit Limit
	// UsageBytes is v1 memory.usage_in_bytes or v2 memory.current.
	UsageBytes uint64
	// Swap is nil when the kernel has no swap accounting (v1 without
	// memory.memsw.*, v2 without memory.swap.*) or it could not be read.
	Swap *Swap
	// Swappiness is v1 memory.swappiness; -1 where unknown (v2 has no such
	// file).
	Swappiness int
	Stat       MemoryStat
}

// Swap is swap alone, never memory+swap: on v1 it is derived from memsw.
type Swap struct {
	// Limit is v2 min(memory.swap.max) over ancestors; v1
	// min(memsw.limit_in_bytes) - min(limit_in_bytes), floored at 0.
	Limit Limit
	// UsageBytes is v2 memory.swap.current; v1 memsw.usage_in_bytes -
	// usage_in_bytes, floored at 0.
	UsageBytes uint64
}

// MemoryStat holds the memory.stat counters the renderers use, in bytes.
// v1 takes the hierarchical total_* keys; v2 the plain keys.
type MemoryStat struct {
	CacheBytes        uint64 // v1 total_cache, v2 file
	RSSBytes          uint64 // v1 total_rss, v2 anon
	AnonHugeBytes     uint64 // v1 total_rss_huge, v2 anon_thp
	ShmemBytes        uint64 // v1 total_shmem, v2 shmem
	MappedBytes       uint64 // v1 total_mapped_file, v2 file_mapped
	DirtyBytes        uint64 // v1 total_dirty, v2 file_dirty
	WritebackBytes    uint64 // v1 total_writeback, v2 file_writeback
	ActiveAnonBytes   uint64 // active_anon
	InactiveAnonBytes uint64 // inactive_anon
	ActiveFileBytes   uint64 // active_file
	InactiveFileBytes uint64 // inactive_file
	UnevictableBytes  uint64 // unevictable
	SwapCachedBytes   uint64 // v1 total_swapcached, v2 swapcached (5.19+)
	// Kernel memory by kind, v2 only (v1 memory.stat has none of these
	// keys; its memory.kmem.usage_in_bytes is their sum with slab, not
	// split): kernel_stack, pagetables, sec_pagetables (6.3+), percpu,
	// vmalloc (5.19+); 0 where absent.
	KernelStackBytes   uint64
	PageTablesBytes    uint64
	SecPageTablesBytes uint64
	PercpuBytes        uint64
	VmallocBytes       uint64
	// Transparent huge pages of files and shmem, v2 only: file_thp,
	// shmem_thp; 0 where absent.
	FileHugeBytes  uint64
	ShmemHugeBytes uint64
	// Slab counters exist on v2 only (slab, slab_reclaimable,
	// slab_unreclaimable); HasSlab says whether they were present.
	HasSlab                bool
	SlabBytes              uint64
	SlabReclaimableBytes   uint64
	SlabUnreclaimableBytes uint64
	// Zswap counters exist on v2 kernels with zswap accounting (zswap,
	// zswapped).
	HasZswap      bool
	ZswapBytes    uint64
	ZswappedBytes uint64
}

// CPU is the container's CPU placement and bandwidth limit.
type CPU struct {
	// CPUs is the effective cpuset (v1 cpuset.effective_cpus, v2
	// cpuset.cpus.effective). Empty when the cpuset controller is absent:
	// renderers then use the host's online CPUs.
	CPUs CPUSet
	// QuotaCPUs is the minimum of quota/period over the cgroup and its
	// ancestors (v1 cpu.cfs_quota_us / cpu.cfs_period_us, v2 cpu.max), in
	// CPUs; 0 when no ancestor has a quota.
	QuotaCPUs float64
}

// CPUUsage is the CPU time the container's cgroup has consumed.
type CPUUsage struct {
	// UserNanos and SystemNanos are the totals (v1 cpuacct.usage_all summed
	// or cpuacct.stat; v2 cpu.stat user_usec, system_usec).
	UserNanos   uint64
	SystemNanos uint64
	// PerCPU is indexed by host CPU number (v1 cpuacct.usage_all). It is nil
	// on v2, which accounts CPU time per cgroup only.
	PerCPU []CPUTime
}

// CPUTime is one CPU's share of a cgroup's usage.
type CPUTime struct {
	UserNanos   uint64
	SystemNanos uint64
}

// TotalNanos is user plus system time.
func (u *CPUUsage) TotalNanos() uint64 { return u.UserNanos + u.SystemNanos }

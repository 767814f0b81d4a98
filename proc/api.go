package proc

import "github.com/lxcfs-go/lxcfs-go/hostcgroup"

// Options are the daemon flags that change what files show.
type Options struct {
	SwapOff  bool // -u/--disable-swap: no swap in meminfo and swaps
	ZswapOff bool // --disable-zswap: Zswap and Zswapped lines are 0
	CFS      bool // --enable-cfs: the CPU count also follows the CFS quota
}

// CPUView is the set of CPUs a container sees, derived once per read and
// shared by cpuinfo, stat, uptime and the sys cpu tree so that they agree.
type CPUView struct {
	// Host lists the host CPU numbers the container sees, ascending.
	Host []int
	// Renumber is true when the container sees its CPUs as 0..len(Host)-1
	// (under --enable-cfs) rather than by their host numbers.
	Renumber bool
}

// Uptime inputs beyond the host file.
type UptimeInput struct {
	// InitStartTicks is field 22 (starttime) of the container init's
	// /proc/<pid>/stat, in clock ticks since boot.
	InitStartTicks uint64
	// ClockTicks is sysconf(_SC_CLK_TCK), 100 on Linux.
	ClockTicks uint64
	// TimeNS is set when the reader is in a time namespace with a boottime
	// offset of its own; the container's boot is then the namespace's (see
	// Boot).
	TimeNS *TimeNS
	// VisibleCPUs is len(CPUView.Host).
	VisibleCPUs int
	// QuotaCPUs is, under --enable-cfs, the CFS quota in CPUs (0: none).
	// Below VisibleCPUs it is the capacity idle counts against, as in
	// stat's CPU lines (package cputimes).
	QuotaCPUs float64
	// Usage is the container's CPU usage; nil when unknown.
	Usage *hostcgroup.CPUUsage
}

// TimeNS is the reader's time namespace: the kernel shows its members
// CLOCK_BOOTTIME, and so /proc/uptime, /proc/stat's btime and every
// process's start time in /proc/<pid>/stat, moved by BoottimeOffsetNanos.
type TimeNS struct {
	// BoottimeOffsetNanos is the namespace's boottime offset relative to
	// the host file's (the daemon's) namespace; negative for a container
	// that booted after the host.
	BoottimeOffsetNanos int64
}

// Boot says when the reader's system booted, so that /proc/uptime and
// /proc/stat's btime agree: btime = now - uptime.
//
// Without a time namespace the container booted when its init started:
//
//	uptime = host uptime - InitStartTicks/ClockTicks, at least 0
//	btime  = host btime + InitStartTicks/ClockTicks (whole seconds)
//
// In a time namespace with a boottime offset (runc linux.timeOffsets, LXC
// lxc.time.offset.boot) the kernel has given the container a boot of its
// own, which every process start time the reader sees in /proc/<pid>/stat
// already counts from; it is kept:
//
//	uptime = host uptime + offset, at least 0
//	btime  = host btime - offset (whole seconds, rounded down)
//
// ps computes a process's ELAPSED as uptime - starttime/HZ and its START as
// btime + starttime/HZ, where starttime is the kernel's: only in the second
// case do those start times count from the served boot (docs/time.md).
type Boot struct {
	InitStartTicks uint64
	ClockTicks     uint64
	TimeNS         *TimeNS
}

// Boot is the boot that in's uptime is counted from.
func (in UptimeInput) Boot() Boot {
	return Boot{InitStartTicks: in.InitStartTicks, ClockTicks: in.ClockTicks, TimeNS: in.TimeNS}
}

func (b Boot) ticks() uint64 {
	if b.ClockTicks == 0 {
		return 100
	}
	return b.ClockTicks
}

// Uptime is the reader's uptime in seconds given the host's.
func (b Boot) Uptime(hostUptime float64) float64 {
	if b.TimeNS != nil {
		return max(hostUptime+float64(b.TimeNS.BoottimeOffsetNanos)/1e9, 0)
	}
	return max(hostUptime-float64(b.InitStartTicks)/float64(b.ticks()), 0)
}

// Btime is the reader's boot time in seconds since the epoch given the
// host's; it saturates rather than wraps.
func (b Boot) Btime(hostBtime uint64) uint64 {
	if b.TimeNS != nil {
		off := b.TimeNS.BoottimeOffsetNanos
		// btime - off/1e9 rounded down: a negative offset (a later boot)
		// adds its whole seconds, a positive one subtracts its seconds
		// rounded up.
		if off <= 0 {
			return satAdd(hostBtime, uint64(-(off / 1e9)))
		}
		secs := off / 1e9
		if off%1e9 != 0 {
			secs++
		}
		return satSub(hostBtime, uint64(secs))
	}
	return satAdd(hostBtime, b.InitStartTicks/b.ticks())
}

// StatInput is what /proc/stat needs beyond the host file.
type StatInput struct {
	// Boot, when set, replaces the host's btime by the reader's,
	// consistent with /proc/uptime.
	Boot       *Boot
	View       CPUView
	Usage      *hostcgroup.CPUUsage
	ClockTicks uint64
	// Tasks replaces the host's procs_running and procs_blocked when set.
	Tasks *hostcgroup.Tasks
	// Times, when set, gives the k-th visible CPU's line (the --enable-cfs
	// view with history); it has one entry per CPU of View.Host.
	Times []CPUTimes
}

// Load is a container's load average state (package loadavg keeps it).
type Load struct {
	// Avg are the 1, 5 and 15 minute averages in the kernel's fixed point
	// (11 fractional bits).
	Avg            [3]uint64
	Running, Total int
	LastPID        int
}

// CPUTimes are one visible CPU's times in clock ticks, as the --enable-cfs
// CPU view (package cputimes) keeps them.
type CPUTimes struct {
	User, System, Idle uint64
}

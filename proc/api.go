package proc

import "github.com/lxcfs-go/lxcfs-go/cgroupview"

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
	// VisibleCPUs is len(CPUView.Host).
	VisibleCPUs int
	// Usage is the container's CPU usage; nil when unknown.
	Usage *cgroupview.CPUUsage
}

// StatInput is what /proc/stat needs beyond the host file.
type StatInput struct {
	View       CPUView
	Usage      *cgroupview.CPUUsage
	ClockTicks uint64
	// Tasks replaces the host's procs_running and procs_blocked when set.
	Tasks *cgroupview.Tasks
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
// CPU view (package cpuview) keeps them.
type CPUTimes struct {
	User, System, Idle uint64
}

package proc

import (
	"math"
	"strconv"
)

// Uptime appends the container's /proc/uptime to dst: "<age> <idle>\n",
// both in seconds with two decimals.
//
//	age  = host uptime - InitStartTicks/ClockTicks, floored at 0
//	idle = age * capacity - usage, floored at 0
//
// capacity is VisibleCPUs (at least 1), or QuotaCPUs where that is below
// it (--enable-cfs with a fractional quota: a container at its quota is not
// idle).
// The host uptime is the first number of hostUptime (the host's
// /proc/uptime), and InitStartTicks field 22 of the container init's
// /proc/<pid>/stat, so age is how long the container's init has run. A
// reader in a time namespace with a boottime offset (in.TimeNS) gets the
// namespace's age instead, host uptime + offset, as the kernel shows it
// (see Boot; stat's btime follows the same boot). usage
// is the container's CPU time (v1 cpuacct, v2 cpu.stat usage; 0 when
// in.Usage is nil). Like the kernel's, idle is summed over the CPUs the
// container sees (VisibleCPUs, at least 1). ClockTicks 0 counts as 100. An
// unparseable host file is returned as it is.
//
// Where this differs from lxcfs: lxcfs prints idle = age - usage (age when
// usage is larger), not summed over CPUs; and on v2 it has no usage, so
// idle = age. lxcfs takes the age from CLOCK_BOOTTIME rather than the host
// file, which is the same clock.
func Uptime(dst, hostUptime []byte, in UptimeInput) []byte {
	up, ok := parseUptime(hostUptime)
	if !ok {
		return append(dst, hostUptime...)
	}
	age := in.Boot().Uptime(up)
	var busy float64
	if in.Usage != nil {
		busy = (float64(in.Usage.UserNanos) + float64(in.Usage.SystemNanos)) / 1e9
	}
	capacity := float64(max(in.VisibleCPUs, 1))
	if in.QuotaCPUs > 0 && in.QuotaCPUs < capacity {
		capacity = in.QuotaCPUs
	}
	idle := max(age*capacity-busy, 0)
	dst = strconv.AppendFloat(dst, age, 'f', 2, 64)
	dst = append(dst, ' ')
	dst = strconv.AppendFloat(dst, idle, 'f', 2, 64)
	return append(dst, '\n')
}

// parseUptime parses the first number of /proc/uptime, which the kernel
// prints as "%lu.%02lu". Other decimal forms are accepted; signs, exponents,
// and anything not finite are not.
func parseUptime(b []byte) (float64, bool) {
	i := skipBlanks(b, 0)
	whole, end, ok := parseUint(b, i)
	if !ok {
		return 0, false
	}
	v := float64(whole)
	if end < len(b) && b[end] == '.' {
		frac, fend, ok := parseUint(b, end+1)
		if ok {
			v += float64(frac) / math.Pow10(fend-(end+1))
		}
		end = fend
	}
	if end < len(b) && !isBlank(b[end]) && b[end] != '\n' {
		return 0, false
	}
	return v, !math.IsInf(v, 0)
}

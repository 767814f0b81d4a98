package proc

import (
	"math"
	"strconv"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// NewCPUView derives the CPUs a container sees, once per read, so that
// cpuinfo, stat, uptime and the sys cpu tree agree.
//
// Host is the container's effective cpuset (v1 cpuset.effective_cpus, v2
// cpuset.cpus.effective) intersected with the host's online CPUs. It falls
// back to hostOnline when cpu is nil, its cpuset is empty (no cpuset
// controller) or the intersection is empty, and to cpu.CPUs when hostOnline
// is empty, so that the view is empty only when both are.
//
// With opt.CFS (--enable-cfs) and a known cpu, the container sees its CPUs
// numbered 0..n-1 (Renumber), as lxcfs does under --enable-cfs; and with a
// quota (QuotaCPUs > 0, min(quota/period) over the ancestors: v1
// cpu.cfs_quota_us/cpu.cfs_period_us, v2 cpu.max) it sees only the first
// ceil(QuotaCPUs) of them: quota 0.5 or 1 gives one CPU, 1.5 gives two.
// Without opt.CFS the quota changes nothing and CPUs keep their host numbers.
//
// lxcfs 5.0.3 reads the quota of the cpuset cgroup's path only (7.0 takes
// the minimum over ancestors, as we do), and takes the nearest configured
// cpuset.cpus rather than the effective set.
func NewCPUView(cpu *hostcgroup.CPU, hostOnline hostcgroup.CPUSet, opt Options) CPUView {
	set := hostOnline
	if cpu != nil && !cpu.CPUs.IsEmpty() {
		if hostOnline.IsEmpty() {
			set = cpu.CPUs
		} else if both := cpu.CPUs.Intersect(hostOnline); !both.IsEmpty() {
			set = both
		}
	}
	v := CPUView{Host: set.CPUs()}
	if opt.CFS && cpu != nil {
		v.Renumber = true
		if q := cpu.QuotaCPUs; q > 0 && q < float64(len(v.Host)) {
			v.Host = v.Host[:int(math.Ceil(q))]
		}
	}
	return v
}

// CPUList appends the content of /sys/devices/system/cpu/online (and of
// present and possible, which we make equal to it) to dst: the host CPU
// numbers in the kernel's list format ("0,2-3\n"), or, when the view is
// renumbered, "0-<n-1>\n" ("0\n" for one CPU), as lxcfs prints online under
// --enable-cfs. v.Host must be ascending, as NewCPUView makes it.
func CPUList(dst []byte, v CPUView) []byte {
	if v.Renumber {
		dst = append(dst, '0')
		if n := len(v.Host); n > 1 {
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, int64(n-1), 10)
		}
		return append(dst, '\n')
	}
	dst = hostcgroup.AppendCPUList(dst, v.Host)
	return append(dst, '\n')
}

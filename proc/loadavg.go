package proc

import "strconv"

// Loadavg appends the container's /proc/loadavg to dst:
//
//	<1min> <5min> <15min> <running>/<total> <last_pid>
//
// in the kernel's format: each average a (fixed point, 11 bits) is rounded
// with a + FIXED_1/200 and printed as a>>11 "." ((a&2047)*100)>>11, two
// digits. With in nil (no -l, or no container view) the host's file is
// returned.
//
// Sources (sampled every 5 s by package loadavg): the active count is the
// cgroup subtree's threads in state R or D (v1: taskstats
// CGROUPSTATS_CMD_GET on the cpu hierarchy's cgroups; v2: the states of
// the threads in cgroup.threads). running counts state R only, as the
// kernel's field does (lxcfs counts R and D there); total counts every
// thread; last_pid is in.LastPID, which the daemon gives as the reader's
// pid namespace numbers the cgroup's newest thread (lxcfs prints the host's
// number, which the container cannot see).
func Loadavg(dst, host []byte, in *Load) []byte {
	if in == nil {
		return append(dst, host...)
	}
	for i, a := range in.Avg {
		if i > 0 {
			dst = append(dst, ' ')
		}
		a += loadFixed1 / 200
		dst = strconv.AppendUint(dst, a>>loadFShift, 10)
		dst = append(dst, '.')
		frac := ((a & (loadFixed1 - 1)) * 100) >> loadFShift
		if frac < 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendUint(dst, frac, 10)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(max(in.Running, 0)), 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(max(in.Total, 0)), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(max(in.LastPID, 0)), 10)
	return append(dst, '\n')
}

const (
	loadFShift = 11
	loadFixed1 = 1 << loadFShift
)

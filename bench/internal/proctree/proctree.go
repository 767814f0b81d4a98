// Package proctree counts the CPU time of a process together with the
// processes it started, so that a daemon's benchmark figures include its
// helpers: lxcfs-go's fd holder (a long-lived child), lxcfs's short-lived
// forked helpers (counted once reaped, in the parent's cutime and cstime).
package proctree

import (
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat.
const clockTicks = 100

// Descendants returns the live descendants of pid: the children of each of
// its threads, recursively. It needs /proc/<pid>/task/<tid>/children
// (CONFIG_PROC_CHILDREN, on in the distributions' kernels).
func Descendants(pid int) []int {
	var out []int
	for queue := []int{pid}; len(queue) > 0; {
		p := queue[0]
		queue = queue[1:]
		dir := "/proc/" + strconv.Itoa(p) + "/task"
		tasks, _ := os.ReadDir(dir)
		for _, t := range tasks {
			b, _ := os.ReadFile(dir + "/" + t.Name() + "/children")
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// ThreadNanos is the runtime of pid's live threads and those of its live
// descendants, in nanoseconds from schedstat, plus the reaped children's
// time of each (cutime + cstime, in ticks). Threads that have exited are
// not in it: ProcessSeconds counts those, at tick resolution.
func ThreadNanos(pid int) int64 {
	var sum int64
	for _, p := range eachThread(pid, func(schedstat []string) {
		n, _ := strconv.ParseInt(schedstat[0], 10, 64)
		sum += n
	}) {
		if st, ok := stat(p); ok {
			sum += (st.cutime + st.cstime) * 1e9 / clockTicks
		}
	}
	return sum
}

// Timeslices is how many times the live threads of pid and of its live
// descendants have been scheduled onto a CPU (schedstat's third field):
// their wake-ups, each a context switch.
func Timeslices(pid int) int64 {
	var sum int64
	eachThread(pid, func(schedstat []string) {
		n, _ := strconv.ParseInt(schedstat[2], 10, 64)
		sum += n
	})
	return sum
}

// eachThread calls f with the fields of /proc/<p>/task/<tid>/schedstat
// (run time ns, wait time ns, timeslices) of every live thread of pid and
// of its live descendants, and returns those processes, pid first.
func eachThread(pid int, f func(schedstat []string)) []int {
	procs := append([]int{pid}, Descendants(pid)...)
	for _, p := range procs {
		dir := "/proc/" + strconv.Itoa(p) + "/task"
		tasks, _ := os.ReadDir(dir)
		for _, t := range tasks {
			b, _ := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
			if fields := strings.Fields(string(b)); len(fields) >= 3 {
				f(fields)
			}
		}
	}
	return procs
}

// ProcessSeconds is utime + stime + cutime + cstime of pid and of each of its
// live descendants. The kernel scales utime and stime so that their sum is
// the exact runtime of every thread of the process, exited ones included.
func ProcessSeconds(pid int) (float64, bool) {
	var ticks int64
	found := false
	for _, p := range append([]int{pid}, Descendants(pid)...) {
		if st, ok := stat(p); ok {
			ticks += st.utime + st.stime + st.cutime + st.cstime
			found = found || p == pid
		}
	}
	return float64(ticks) / clockTicks, found
}

type times struct{ utime, stime, cutime, cstime int64 }

// stat reads fields 14-17 of /proc/<pid>/stat.
func stat(pid int) (times, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return times{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return times{}, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 15 {
		return times{}, false
	}
	var v [4]int64
	for k := range v {
		v[k], _ = strconv.ParseInt(f[11+k], 10, 64)
	}
	return times{v[0], v[1], v[2], v[3]}, true
}

// RSSKiB is VmRSS of pid in KiB; 0 if unknown.
func RSSKiB(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

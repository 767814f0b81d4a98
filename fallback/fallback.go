// Package fallback names why a container's value was served from the host
// instead (the container's could not be computed), so that content and
// hostcgroup can report it as a typed value and metrics can count it
// without reading log text.
//
// A package that falls back holds a Reporter made from its Options: Report
// tells the counter (if any) and says whether debug logging is on, so that
// the debug record and its attributes are built only then:
//
//	if v.fallbacks.Report(fallback.Memory) {
//		v.log.Debug("memory of cgroup unavailable", "path", d.path, "err", err)
//	}
package fallback

import (
	"context"
	"log/slog"
	"strconv"
)

// Reason says which value fell back to the host's. Its String is the
// reason label of lxcfs_go_fallbacks_total: dashboards use those values,
// so they never change.
type Reason uint8

const (
	// NoContainer: the caller's container could not be found; the whole
	// file is the host's.
	NoContainer Reason = iota
	// Pressure: the container's PSI (proc/pressure/*).
	Pressure
	// Loadavg: the container's load under -l.
	Loadavg
	// IO: the cgroup's io or blkio statistics.
	IO
	// Memory: the cgroup's memory limit, usage or memory.stat.
	Memory
	// Swap: the cgroup's swap limit or usage.
	Swap
	// Swappiness: the cgroup's memory.swappiness (v1).
	Swappiness
	// CPUSet: the cgroup's effective cpuset.
	CPUSet
	// CPUQuota: the cgroup's CFS quota (--enable-cfs).
	CPUQuota
	// CPUUsage: the cgroup's CPU time.
	CPUUsage
	// Slabinfo: the cgroup's memory.kmem.slabinfo (v1).
	Slabinfo
	// OutsideHierarchy: the cgroup is not below the mounted part of its
	// hierarchy.
	OutsideHierarchy
	// CgroupRemoved: the process's cgroup2 path was removed.
	CgroupRemoved
	// TimeNamespace: the caller's time namespace offset; uptime counts
	// from the container init.
	TimeNamespace

	count // keep last
)

var labels = [count]string{
	NoContainer:      "no_container",
	Pressure:         "pressure",
	Loadavg:          "loadavg",
	IO:               "io",
	Memory:           "memory",
	Swap:             "swap",
	Swappiness:       "swappiness",
	CPUSet:           "cpuset",
	CPUQuota:         "cpu_quota",
	CPUUsage:         "cpu_usage",
	Slabinfo:         "slabinfo",
	OutsideHierarchy: "outside_hierarchy",
	CgroupRemoved:    "cgroup_removed",
	TimeNamespace:    "time_namespace",
}

// String is the reason's metric label ("memory", "cpu_quota").
func (r Reason) String() string {
	if r < count {
		return labels[r]
	}
	return "reason_" + strconv.Itoa(int(r))
}

// Reasons lists every reason, in order, for a counter that exports zeros
// before the first fallback. Reasons()[r] == r.
func Reasons() []Reason {
	out := make([]Reason, count)
	for i := range out {
		out[i] = Reason(i)
	}
	return out
}

// Reporter reports the fallbacks of one package. Its zero value reports
// to nobody and logs nothing.
type Reporter struct {
	// Log is the logger the caller writes its debug record to; nil logs
	// nothing.
	Log *slog.Logger
	// On is called with every fallback; nil does nothing. It must be safe
	// for concurrent use: it is called on the read path.
	On func(Reason)
}

// Report calls On with r, and reports whether Log is enabled at debug
// level: the caller logs the fallback only when it returns true.
func (p Reporter) Report(r Reason) (logIt bool) {
	if p.On != nil {
		p.On(r)
	}
	return p.Log != nil && p.Log.Enabled(context.Background(), slog.LevelDebug)
}

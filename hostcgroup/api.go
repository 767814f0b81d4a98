package hostcgroup

import (
	"log/slog"

	"github.com/lxcfs-go/lxcfs-go/fallback"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// Options says where the host's files are. The daemon passes the real roots;
// tests pass a fixture tree that looks like a v1, hybrid or v2 host.
type Options struct {
	// ProcFS is the procfs root; "/proc" on a real host. mountinfo is read
	// from ProcFS/self/mountinfo, a process's cgroups from
	// ProcFS/<pid>/cgroup. Ignored when Host is set: Host's root is used.
	ProcFS string
	// Host reads every file (and keeps their fds); when nil, New makes
	// one of its own on ProcFS. The daemon passes content's, so that one
	// cache serves both.
	Host *hostfs.FS
	// MountPrefix is prepended to every mount point named in mountinfo
	// before it is opened; "" on a real host, the fixture root in tests.
	MountPrefix string
	Logger      *slog.Logger
	// OnFallback is told of every value that falls back to the host's
	// (the same events logged at debug level); nil tells nobody.
	OnFallback func(fallback.Reason)
}

// Want selects the parts of a Snapshot to read, so that a file reads only the
// cgroup files it needs.
type Want uint

const (
	WantMemory Want = 1 << iota
	// WantCPU reads the effective cpuset; with WantCPUQuota also the CFS
	// quota (only --enable-cfs uses it).
	WantCPU
	WantCPUQuota
	WantUsage
	WantSlabinfo
	WantTasks
	WantIO
)

// Cgroups is where one process sits: a path per v1 controller and the path
// in the unified (cgroup2) hierarchy. Paths start with "/" and are relative
// to the hierarchy's root; a trailing "/init.scope" has been removed.
// View.Cgroups shares its results between callers: treat V1 as read-only.
type Cgroups struct {
	// V1 maps a controller name ("memory", "cpu", "name=systemd") to the
	// path of the process in the hierarchy that has that controller.
	V1 map[string]string
	// Unified is the path in the cgroup2 hierarchy; HasUnified says whether
	// /proc/<pid>/cgroup had a "0::" line.
	Unified    string
	HasUnified bool
}

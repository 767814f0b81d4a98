package content

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/fallback"
	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// A renderer is content's half of a row of the vfiles table: what the file
// needs from the cgroup snapshot, how it is rendered for a caller, and how
// `show --explain` says where it comes from. vfiles holds the other half
// (paths, host file, node ID, binds), which processes without this package
// (the webhook, the hooks) read too.
type renderer struct {
	// want lists the snapshot parts the file needs (the CFS quota is added
	// under --enable-cfs: Source.want).
	want hostcgroup.Want
	// fixed is the content of a file that is the same for every caller,
	// virtualized or not, and has no host file.
	fixed string
	// render appends the file for a resolved caller; nil serves the host
	// file.
	render func(s *Source, dst []byte, f vfiles.File, c *Caller, snap *hostcgroup.Snapshot) ([]byte, error)
	// explain lists the fields that differ from the host's file and where
	// each comes from; nil or an empty list says "(unchanged)".
	explain func(e *explainer, f vfiles.File, shown, host []byte) []Explanation
	// unchanged says why the file shows the host's values; nil: "not
	// virtualized".
	unchanged func(e *explainer) string
}

// renderers are the renderers by file. A file without one is the host's.
var renderers = [vfiles.Count]renderer{
	vfiles.Meminfo: {
		want:      hostcgroup.WantMemory,
		render:    (*Source).renderMeminfo,
		explain:   (*explainer).meminfo,
		unchanged: (*explainer).memoryUnchanged,
	},
	vfiles.Swaps: {
		want:      hostcgroup.WantMemory,
		render:    (*Source).renderSwaps,
		explain:   (*explainer).swaps,
		unchanged: (*explainer).memoryUnchanged,
	},
	vfiles.CPUInfo: {
		want:      hostcgroup.WantCPU,
		render:    (*Source).renderCPUInfo,
		explain:   (*explainer).processors,
		unchanged: (*explainer).cpusFrom,
	},
	vfiles.Stat: {
		want:      hostcgroup.WantCPU | hostcgroup.WantUsage | hostcgroup.WantTasks,
		render:    (*Source).renderStat,
		explain:   (*explainer).stat,
		unchanged: (*explainer).cpusFrom,
	},
	vfiles.Uptime: {
		want:    hostcgroup.WantCPU | hostcgroup.WantUsage,
		render:  (*Source).renderUptime,
		explain: (*explainer).uptime,
	},
	vfiles.Slabinfo: {
		want:      hostcgroup.WantSlabinfo,
		render:    (*Source).renderSlabinfo,
		explain:   (*explainer).slabinfo,
		unchanged: (*explainer).slabinfoUnchanged,
	},
	vfiles.Loadavg: {
		render:    (*Source).renderLoadavg,
		explain:   (*explainer).loadavg,
		unchanged: (*explainer).loadavgUnchanged,
	},
	vfiles.Diskstats: {
		want:      hostcgroup.WantIO,
		render:    (*Source).renderDiskstats,
		explain:   (*explainer).diskstats,
		unchanged: (*explainer).diskstatsUnchanged,
	},
	vfiles.PressureCPU:    pressure,
	vfiles.PressureIO:     pressure,
	vfiles.PressureMemory: pressure,
	vfiles.CPUOnline:      cpuList,
	vfiles.CPUPresent:     cpuList,
	vfiles.CPUPossible:    cpuList,
	vfiles.CPUOffline: {
		render: func(_ *Source, dst []byte, _ vfiles.File, _ *Caller, _ *hostcgroup.Snapshot) ([]byte, error) {
			return append(dst, '\n'), nil
		},
	},
	vfiles.CPUNOnline: {fixed: "1\n"},
}

// pressure is the renderer of each proc/pressure file.
var pressure = renderer{
	render:    (*Source).renderPressure,
	explain:   (*explainer).pressure,
	unchanged: (*explainer).pressureUnchanged,
}

// cpuList is the renderer of the sys cpu lists online, present and
// possible.
var cpuList = renderer{
	want:      hostcgroup.WantCPU,
	render:    (*Source).renderCPUList,
	explain:   (*explainer).cpuList,
	unchanged: (*explainer).cpusFrom,
}

// rendererOf is f's renderer; none for a number that names no file.
func rendererOf(f vfiles.File) renderer {
	if f < 0 || f >= vfiles.Count {
		return renderer{}
	}
	return renderers[f]
}

// RenderFor appends the content of f for an already resolved caller.
func (s *Source) RenderFor(dst []byte, f vfiles.File, c *Caller) ([]byte, error) {
	r := rendererOf(f)
	if r.fixed != "" {
		return append(dst, r.fixed...), nil
	}
	snap := s.snapshot(c, s.want(f))
	if r.render == nil {
		return s.host(dst, f)
	}
	return r.render(s, dst, f, c, snap)
}

func (s *Source) renderMeminfo(dst []byte, f vfiles.File, _ *Caller, snap *hostcgroup.Snapshot) ([]byte, error) {
	host, err := s.read(f)
	if err != nil {
		return dst, err
	}
	return proc.Meminfo(dst, host, snap.Memory, s.opts.Render), nil
}

func (s *Source) renderSwaps(dst []byte, f vfiles.File, _ *Caller, snap *hostcgroup.Snapshot) ([]byte, error) {
	host, err := s.read(f)
	if err != nil {
		return dst, err
	}
	mem, err := s.read(vfiles.Meminfo)
	if err != nil {
		return dst, err
	}
	return proc.Swaps(dst, host, mem, snap.Memory, s.opts.Render), nil
}

func (s *Source) renderCPUInfo(dst []byte, f vfiles.File, _ *Caller, snap *hostcgroup.Snapshot) ([]byte, error) {
	host, err := s.read(f)
	if err != nil {
		return dst, err
	}
	return proc.CPUInfo(dst, host, s.cpuView(snap)), nil
}

func (s *Source) renderStat(dst []byte, f vfiles.File, c *Caller, snap *hostcgroup.Snapshot) ([]byte, error) {
	host, err := s.read(f)
	if err != nil {
		return dst, err
	}
	tasks := snap.Tasks
	if t := snap.Tasks; t != nil && (t.Blocked > 0 || t.Running == 0) {
		// The kernel counts the reader of /proc/stat as running. The
		// reading thread waits for this reply in state D, when the
		// snapshot was taken for this read; one shared with the
		// container's other readers may have been taken before this
		// reader asked (or while only another reader was blocked), so
		// at least one runs whatever it says. The snapshot is shared:
		// change a copy.
		own := *t
		if own.Blocked > 0 {
			own.Blocked--
			own.Running++
		}
		own.Running = max(own.Running, 1)
		tasks = &own
	}
	boot := s.boot(c)
	in := proc.StatInput{View: s.cpuView(snap), Usage: snap.Usage, ClockTicks: clockTicks, Tasks: tasks, Boot: &boot}
	in.Times = s.cpuTimes(c, in.View, snap)
	return proc.Stat(dst, host, in), nil
}

func (s *Source) renderUptime(dst []byte, f vfiles.File, c *Caller, snap *hostcgroup.Snapshot) ([]byte, error) {
	host, err := s.read(f)
	if err != nil {
		return dst, err
	}
	boot := s.boot(c)
	var quota float64
	if s.opts.Render.CFS && snap.CPU != nil {
		quota = snap.CPU.QuotaCPUs
	}
	return proc.Uptime(dst, host, proc.UptimeInput{
		QuotaCPUs:      quota,
		InitStartTicks: boot.InitStartTicks,
		ClockTicks:     boot.ClockTicks,
		TimeNS:         boot.TimeNS,
		VisibleCPUs:    len(s.cpuView(snap).Host),
		Usage:          snap.Usage,
	}), nil
}

func (s *Source) renderSlabinfo(dst []byte, f vfiles.File, _ *Caller, snap *hostcgroup.Snapshot) ([]byte, error) {
	host, err := s.read(f)
	if err != nil {
		return dst, err
	}
	return proc.Slabinfo(dst, host, snap.Slabinfo), nil
}

func (s *Source) renderLoadavg(dst []byte, f vfiles.File, c *Caller, _ *hostcgroup.Snapshot) ([]byte, error) {
	if l := s.loadFor(c); l != nil {
		return proc.Loadavg(dst, nil, l), nil
	}
	return s.host(dst, f)
}

func (s *Source) renderDiskstats(dst []byte, f vfiles.File, c *Caller, snap *hostcgroup.Snapshot) ([]byte, error) {
	host, err := s.read(f)
	if err != nil {
		return dst, err
	}
	io := snap.IO
	if io != nil && io.Tasks != nil {
		// The snapshot is shared: the devices go into a copy.
		own, tasks := *io, *io.Tasks
		tasks.Devices = s.rootDisks(c.Ref.PID)
		own.Tasks = &tasks
		io = &own
	}
	return proc.Diskstats(dst, host, io), nil
}

func (s *Source) renderPressure(dst []byte, f vfiles.File, c *Caller, _ *hostcgroup.Snapshot) ([]byte, error) {
	host, err := s.read(f)
	if err != nil {
		return dst, err
	}
	cg, err := s.view.PSI(c.Cgroups, psiResource(f))
	if err != nil {
		if s.fallbacks.Report(fallback.Pressure) {
			s.log.Debug("container pressure unavailable, serving the host file", "file", hostName(f), "pid", c.Ref.PID, "err", err)
		}
		cg = nil
	}
	return proc.Pressure(dst, host, cg), nil
}

func (s *Source) renderCPUList(dst []byte, _ vfiles.File, _ *Caller, snap *hostcgroup.Snapshot) ([]byte, error) {
	return proc.CPUList(dst, s.cpuView(snap)), nil
}

// The explanations of each file, beside show.go's meminfo, swaps, stat and
// uptime.

func (e *explainer) processors(_ vfiles.File, shown, host []byte) []Explanation {
	return e.cpus("processors", strconv.Itoa(countPrefix(shown, "processor")), strconv.Itoa(countPrefix(host, "processor")))
}

func (e *explainer) cpuList(_ vfiles.File, shown, host []byte) []Explanation {
	return e.cpus("cpus", string(bytes.TrimSpace(shown)), string(bytes.TrimSpace(host)))
}

func (e *explainer) diskstats(_ vfiles.File, shown, host []byte) []Explanation {
	if bytes.Equal(shown, host) {
		return nil
	}
	hi, _, _ := e.hierarchy("io")
	if hi == nil {
		hi, _, _ = e.hierarchy("blkio")
	}
	ctrl := "io"
	if hi != nil && hi.Version == 1 {
		ctrl = "blkio"
	}
	from := fileIO.of(hi) + " of " + e.path(ctrl) + ": every host device, the container's counts where the cgroup has them, 0 elsewhere; the host's names and field count, fields the cgroup cannot know 0"
	if io := e.snap.IO; io != nil && io.Tasks != nil {
		devs := e.s.rootDisks(e.c.Ref.PID)
		where := "no line (the root file system is on no block device)"
		if len(devs) > 0 {
			var names []string
			for _, d := range devs {
				names = append(names, strconv.FormatUint(uint64(d.Major), 10)+":"+strconv.FormatUint(uint64(d.Minor), 10))
			}
			where = "the line of " + strings.Join(names, " and ") + " (the disk of the container's root file system)"
		}
		from = fileIO.of(hi) + " of " + e.path(ctrl) + " count nothing (v1 blkio throttle files count only on devices with a throttle rule since Linux 6.10; no io controller for the cgroup): sectors read and written are the per-task accounting of its processes (/proc/<pid>/io read_bytes, write_bytes - cancelled_write_bytes; never going down), on " + where + "; every other field and device 0"
	}
	return []Explanation{{Field: "device lines", Shown: strconv.Itoa(countLines(shown)), Host: strconv.Itoa(countLines(host)), From: from}}
}

func (e *explainer) pressure(f vfiles.File, shown, host []byte) []Explanation {
	if bytes.Equal(shown, host) {
		return nil
	}
	from := "the container's cgroup2 pressure file"
	if p, ok := e.s.view.PSIFile(e.c.Cgroups, psiResource(f)); ok {
		from = p
	}
	return []Explanation{{Field: "(whole file)", Shown: firstLineOf(shown), Host: firstLineOf(host), From: from}}
}

func (e *explainer) loadavg(_ vfiles.File, shown, host []byte) []Explanation {
	if bytes.Equal(shown, host) {
		return nil
	}
	return []Explanation{{Field: "loadavg", Shown: strings.TrimSpace(string(shown)), Host: strings.TrimSpace(string(host)),
		From: "-l: the kernel's exponential averages of the threads in state R or D of the container's cgroup subtree, sampled every 5 s"}}
}

func (e *explainer) slabinfo(_ vfiles.File, _, _ []byte) []Explanation {
	if e.snap.Slabinfo == nil {
		return nil
	}
	return []Explanation{{Field: "slabinfo", Shown: "cgroup's", Host: "host's",
		From: "memory.kmem.slabinfo of " + e.path("memory")}}
}

// Why each file shows the host's values, beside show.go's cpusFrom.

func (e *explainer) memoryUnchanged() string {
	m := e.snap.Memory
	switch {
	case m == nil:
		return "no memory values for " + e.path("memory") + " (controller missing, a file unreadable, or the host's root cgroup)"
	case m.Limit.Unlimited:
		return "no memory limit on " + e.path("memory") + " or its ancestors"
	}
	return "the limits equal the host's"
}

func (e *explainer) loadavgUnchanged() string {
	return "loadavg is the host's without -l, and for the host's root cgroup"
}

func (e *explainer) diskstatsUnchanged() string {
	return "the reader is in the host's root cgroup (or in no cgroup hierarchy): the host's counts are its own"
}

func (e *explainer) pressureUnchanged() string {
	return "no cgroup2 pressure file for the container (no cgroup2 mount, no PSI, or the root cgroup)"
}

func (e *explainer) slabinfoUnchanged() string {
	return "no non-empty memory.kmem.slabinfo for " + e.path("memory")
}

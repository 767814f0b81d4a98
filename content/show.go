package content

// This file serves `lxcfs-go show`: naming files from the command line,
// resolving a process without its pid namespace (fixture trees, and "what
// would this process's own cgroups give"), and explaining where each changed
// field of a file comes from.
//
// The explanation names cgroup files. They belong to hostcgroup, which alone reads them;
// here they are only printed, never opened for their values (values come
// from the same Snapshot the renderers use), except to list each level of a
// limit's ancestor chain, which hostcgroup does not export.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// Files lists every file in the order `show --list` prints them.
func Files() []vfiles.File { return vfiles.Files() }

// ParseFile finds a file by its name (File.String: "meminfo",
// "pressure/cpu", "online"), its path below the mount point or that path's
// absolute form ("/proc/meminfo"). Files of the sys cpu directory also
// answer to their path below sys/, devices/system/ or cpu/, and cpuN/online
// to every N.
func ParseFile(name string) (vfiles.File, bool) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	for _, f := range vfiles.Files() {
		if name == f.String() || name == f.MountPath() {
			return f, true
		}
	}
	for _, p := range []string{"sys/devices/system/cpu/", "devices/system/cpu/", "cpu/", ""} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			if f, ok := vfiles.Lookup(path.Join(vfiles.CPUDir, rest)); ok {
				return f, true
			}
		}
	}
	return 0, false
}

// ResolveOwn is Resolve without pid namespaces: the container is pid's own
// cgroups, and pid itself stands for the init (its start time gives the
// uptime). It is what `show --no-pidns` uses, and the only way to resolve a
// process of a fixture tree, which has no ns/pid files. A pid whose
// <pid>/stat is missing gets a start time of 0 (uptime then equals the
// host's).
func (s *Source) ResolveOwn(pid int) (*Caller, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("%w: pid %d", ErrCallerGone, pid)
	}
	cgs, err := s.view.Cgroups(pid)
	if err != nil {
		if errors.Is(err, hostcgroup.ErrNoProcess) {
			return nil, fmt.Errorf("%w: %w", ErrCallerGone, err)
		}
		return nil, err
	}
	p := hostcgroup.Process{PID: pid}
	if b, err := os.ReadFile(path.Join(s.opts.ProcFS, strconv.Itoa(pid), "stat")); err == nil {
		if t, err := hostfs.ParseStatStartTicks(b); err == nil {
			p.StartTicks = t
		}
	}
	return &Caller{TID: pid, Ref: p, Init: p, Cgroups: cgs}, nil
}

// RenderOwn renders f for a caller resolved by ResolveOwn. The sys cpuN
// online file and a source with virtualization off behave as in Render.
func (s *Source) RenderOwn(dst []byte, f vfiles.File, pid int) ([]byte, error) {
	return s.render(dst, f, pid, s.ResolveOwn)
}

// Host appends the host's own file behind f to dst, as a caller with no
// container would see it.
func (s *Source) Host(dst []byte, f vfiles.File) ([]byte, error) {
	if r := rendererOf(f); r.fixed != "" {
		return append(dst, r.fixed...), nil
	}
	return s.host(dst, f)
}

// Explanation says where one field of a rendered file comes from.
type Explanation struct {
	// Field is the meminfo label, "processors", "cpu lines", "uptime", ...
	Field string
	// Shown is the value the caller sees; Host the host's.
	Shown, Host string
	// From names the cgroup files and the formula.
	From string
}

// Explain lists the fields of f that differ for caller c from the host's
// file, and where each comes from. shown is what the caller was shown (nil:
// render it now). A file the container does not change gives one
// Explanation with Field "(unchanged)" and the reason (no limit, controller
// missing, not virtualized).
func (s *Source) Explain(f vfiles.File, c *Caller, shown []byte) ([]Explanation, error) {
	if shown == nil {
		var err error
		if shown, err = s.RenderFor(nil, f, c); err != nil {
			return nil, err
		}
	}
	host, err := s.Host(nil, f)
	if err != nil && !onSysfs(f) {
		return nil, err
	}
	snap := s.view.Snapshot(c.Cgroups, s.want(f))
	ex := &explainer{s: s, c: c, snap: snap}
	var out []Explanation
	if x := rendererOf(f).explain; x != nil {
		out = x(ex, f, shown, host)
	}
	if len(out) == 0 {
		why := "differs from the host's file (see the content)"
		if bytes.Equal(shown, host) {
			why = "same as the host: " + ex.unchangedReason(f)
		}
		out = []Explanation{{Field: "(unchanged)", From: why}}
	}
	return out, nil
}

// explainer holds what one Explain call looks at.
type explainer struct {
	s    *Source
	c    *Caller
	snap *hostcgroup.Snapshot
}

// hierarchy names the hierarchy serving controller ctrl, its version and
// the caller's path in it; ok is false when none serves it.
func (e *explainer) hierarchy(ctrl string) (h *hostcgroup.Hierarchy, p string, ok bool) {
	l := e.s.view.Layout()
	if ctrl == "usage" {
		if h = l.ForController("cpuacct"); h == nil || h.Version != 1 {
			h = l.Unified
		}
	} else {
		h = l.ForController(ctrl)
	}
	if h == nil {
		return nil, "", false
	}
	if h.Version == 2 {
		if !e.c.Cgroups.HasUnified {
			return h, "", false
		}
		return h, e.c.Cgroups.Unified, true
	}
	key := ctrl
	if ctrl == "usage" {
		key = "cpuacct"
	}
	p, ok = e.c.Cgroups.V1[key]
	return h, p, ok
}

// path describes the caller's cgroup for ctrl: "/lxc/c1 (v1 memory at
// /sys/fs/cgroup/memory)".
func (e *explainer) path(ctrl string) string {
	h, p, ok := e.hierarchy(ctrl)
	switch {
	case h == nil:
		return "(no hierarchy has the " + ctrl + " controller)"
	case !ok:
		return fmt.Sprintf("(the process has no path in the cgroup%s hierarchy at %s)", versionSuffix(h), h.MountPoint)
	}
	return fmt.Sprintf("%s (cgroup%s at %s)", p, versionSuffix(h), h.MountPoint)
}

func versionSuffix(h *hostcgroup.Hierarchy) string {
	if h.Version == 2 {
		return "2"
	}
	return " v1 " + strings.Join(h.Controllers, ",")
}

// cgroup file names per hierarchy version, for printing only.
type fileNamesByVersion struct{ v1, v2 string }

var (
	fileMemLimit   = fileNamesByVersion{"memory.limit_in_bytes", "memory.max"}
	fileMemUsage   = fileNamesByVersion{"memory.usage_in_bytes", "memory.current"}
	fileMemStat    = fileNamesByVersion{"memory.stat (total_* keys)", "memory.stat"}
	fileSwapLimit  = fileNamesByVersion{"memory.memsw.limit_in_bytes", "memory.swap.max"}
	fileSwapUsage  = fileNamesByVersion{"memory.memsw.usage_in_bytes", "memory.swap.current"}
	fileCPUSet     = fileNamesByVersion{"cpuset.effective_cpus", "cpuset.cpus.effective"}
	fileQuota      = fileNamesByVersion{"cpu.cfs_quota_us/cpu.cfs_period_us", "cpu.max"}
	fileUsage      = fileNamesByVersion{"cpuacct.usage_all", "cpu.stat (user_usec, system_usec)"}
	fileQuotaParts = fileNamesByVersion{"cpu.cfs_quota_us", "cpu.max"}
	fileIO         = fileNamesByVersion{"blkio.throttle.io_serviced_recursive and io_service_bytes_recursive", "io.stat"}
)

func (n fileNamesByVersion) of(h *hostcgroup.Hierarchy) string {
	if h != nil && h.Version == 2 {
		return n.v2
	}
	return n.v1
}

// chain reads file at the caller's cgroup for ctrl and each ancestor and
// describes each level: "/lxc/c1 256 MiB, /lxc 1 GiB, / unlimited". Levels
// without the file are left out. parse turns the file into a description.
func (e *explainer) chain(ctrl, file string, parse func([]byte) string) string {
	h, p, ok := e.hierarchy(ctrl)
	if !ok {
		return ""
	}
	rel, ok := strings.CutPrefix(p, h.Root)
	if h.Root == "/" {
		rel, ok = p, true
	}
	if !ok {
		return ""
	}
	if rel == "" {
		rel = "/"
	}
	base := e.s.opts.MountPrefix + h.MountPoint
	var parts []string
	for {
		b, err := os.ReadFile(path.Join(base, rel, file))
		if err == nil {
			parts = append(parts, rel+" "+parse(b))
		}
		if rel == "/" {
			break
		}
		rel = path.Dir(rel)
	}
	return strings.Join(parts, ", ")
}

func describeLimit(b []byte) string {
	l, err := hostcgroup.ParseLimit(b)
	if err != nil {
		return fmt.Sprintf("unparseable %q", bytes.TrimSpace(b))
	}
	return limitString(l)
}

func limitString(l hostcgroup.Limit) string {
	if l.Unlimited {
		return "unlimited"
	}
	return sizeString(l.Value)
}

// sizeString prints a byte count in the largest binary unit that divides
// it, or in MiB with a fraction.
func sizeString(v uint64) string {
	switch {
	case v >= 1<<30 && v%(1<<30) == 0:
		return strconv.FormatUint(v>>30, 10) + " GiB"
	case v >= 1<<20 && v%(1<<20) == 0:
		return strconv.FormatUint(v>>20, 10) + " MiB"
	case v >= 1<<20:
		return strconv.FormatFloat(float64(v)/(1<<20), 'f', 1, 64) + " MiB"
	case v >= 1<<10 && v%(1<<10) == 0:
		return strconv.FormatUint(v>>10, 10) + " KiB"
	}
	return strconv.FormatUint(v, 10) + " B"
}

// meminfoLines maps each label (without the colon) to the rest of its line.
func meminfoLines(b []byte) (labels []string, vals map[string]string) {
	vals = map[string]string{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		key := string(k)
		if _, dup := vals[key]; !dup {
			labels = append(labels, key)
		}
		vals[key] = string(bytes.TrimSpace(v))
	}
	return labels, vals
}

// meminfoFrom is the source or rule of each field proc.Meminfo writes
// (proc.Meminfo's comment has the same list). A rule starting "memory.stat "
// is printed with the caller's memory.stat file and cgroup.
var meminfoFrom = map[string]string{
	"MemFree":         "MemTotal - min(usage, MemTotal)",
	"MemAvailable":    "min(MemFree + active_file + inactive_file (+ slab_reclaimable on v2), MemTotal)",
	"Buffers":         "0: cgroups do not account buffers apart from file pages",
	"Cached":          "memory.stat cache - swapcached (v1 total_cache - total_swapcached, v2 file - swapcached), at most MemTotal",
	"SwapCached":      "memory.stat swapcached (v1 total_swapcached, v2 swapcached), at most MemTotal",
	"Active":          "Active(anon) + Active(file), at most MemTotal",
	"Inactive":        "Inactive(anon) + Inactive(file), at most MemTotal",
	"Active(anon)":    "memory.stat active_anon, at most MemTotal",
	"Inactive(anon)":  "memory.stat inactive_anon, at most MemTotal",
	"Active(file)":    "memory.stat active_file, at most MemTotal",
	"Inactive(file)":  "memory.stat inactive_file, at most MemTotal",
	"Unevictable":     "memory.stat unevictable, at most MemTotal",
	"Mlocked":         "= Unevictable (memory.stat unevictable): mlocked pages are on the unevictable list, which memory.stat does not split; an upper bound",
	"Zswap":           "memory.stat zswap (v2), 0 without zswap accounting or with --disable-zswap; at most MemTotal",
	"Zswapped":        "memory.stat zswapped (v2), 0 without zswap accounting or with --disable-zswap",
	"Dirty":           "memory.stat dirty (v1 total_dirty, v2 file_dirty), at most MemTotal",
	"Writeback":       "memory.stat writeback (v1 total_writeback, v2 file_writeback), at most MemTotal",
	"AnonPages":       "memory.stat active_anon + inactive_anon - shmem, floored at 0, at most MemTotal",
	"Mapped":          "memory.stat mapped (v1 total_mapped_file, v2 file_mapped), at most MemTotal",
	"Shmem":           "memory.stat shmem (v1 total_shmem, v2 shmem), at most MemTotal",
	"KReclaimable":    "= SReclaimable: the kernel's other reclaimable memory is not counted per cgroup",
	"Slab":            "SReclaimable + SUnreclaim, at most MemTotal",
	"SReclaimable":    "memory.stat slab_reclaimable (v2), 0 on v1 (no slab counters in v1 memory.stat); at most MemTotal",
	"SUnreclaim":      "memory.stat slab_unreclaimable (v2), 0 on v1 (no slab counters in v1 memory.stat); at most MemTotal",
	"KernelStack":     "memory.stat kernel_stack (v2), 0 on v1 (memory.kmem.usage_in_bytes is not split by kind); at most MemTotal",
	"PageTables":      "memory.stat pagetables (v2), 0 on v1; at most MemTotal",
	"SecPageTables":   "memory.stat sec_pagetables (v2, Linux 6.3+), 0 otherwise; at most MemTotal",
	"Percpu":          "memory.stat percpu (v2), 0 on v1; at most MemTotal",
	"VmallocUsed":     "memory.stat vmalloc (v2, Linux 5.19+), 0 otherwise; at most MemTotal",
	"AnonHugePages":   "memory.stat anon huge pages (v1 total_rss_huge, v2 anon_thp), at most MemTotal",
	"ShmemHugePages":  "memory.stat shmem_thp (v2), 0 on v1; at most MemTotal",
	"FileHugePages":   "memory.stat file_thp (v2), 0 on v1; at most MemTotal",
	"CommitLimit":     "MemTotal x the host's overcommit ratio ((host CommitLimit - host SwapTotal) / host MemTotal) + SwapTotal",
	"Committed_AS":    "AnonPages + Shmem + swap used: the committed memory the container has touched (a lower bound: reservations never touched are not counted per cgroup)",
	"DirectMap4k":     "the host's split of the direct map by page size, scaled so that the DirectMap lines sum to at most MemTotal",
	"DirectMap2M":     "the host's split of the direct map by page size, scaled so that the DirectMap lines sum to at most MemTotal",
	"DirectMap4M":     "the host's split of the direct map by page size, scaled so that the DirectMap lines sum to at most MemTotal",
	"DirectMap1G":     "the host's split of the direct map by page size, scaled so that the DirectMap lines sum to at most MemTotal",
	"VmallocTotal":    "the host's: the size of the kernel's vmalloc address space, not usage",
	"Hugepagesize":    "the host's: the default huge page size",
	"HugePages_Total": "the host's huge page pool, which the container allocates from (hugetlb cgroup limits are not applied)",
	"HugePages_Free":  "the host's huge page pool, which the container allocates from (hugetlb cgroup limits are not applied)",
	"HugePages_Rsvd":  "the host's huge page pool, which the container allocates from (hugetlb cgroup limits are not applied)",
	"HugePages_Surp":  "the host's huge page pool, which the container allocates from (hugetlb cgroup limits are not applied)",
	"Hugetlb":         "the host's huge page pool, which the container allocates from (hugetlb cgroup limits are not applied)",
}

// meminfoRule is the rule of a meminfo field that meminfoFrom does not name:
// a size nothing counts per cgroup is 0 (NFS_Unstable, Bounce,
// WritebackTmp, VmallocChunk, Cma*, Balloon, ... and new ones), a line that
// is no size the host's.
func meminfoRule(label, shownLine string) string {
	if r, ok := meminfoFrom[label]; ok {
		return r
	}
	if strings.HasSuffix(shownLine, "kB") {
		return "0: no cgroup counts it"
	}
	return "the host's: not a size"
}

// meminfo names the source or rule of every field, changed or not.
func (e *explainer) meminfo(_ vfiles.File, shown, host []byte) []Explanation {
	labels, sv := meminfoLines(shown)
	_, hv := meminfoLines(host)
	h, _, _ := e.hierarchy("memory")
	where := e.path("memory")
	var out []Explanation
	for _, k := range labels {
		x := Explanation{Field: k, Shown: sv[k], Host: hv[k]}
		switch k {
		case "MemTotal":
			x.From = fmt.Sprintf("min(%s) over %s and ancestors [%s], capped at the host's MemTotal",
				fileMemLimit.of(h), where, e.chain("memory", fileMemLimit.of(h), describeLimit))
		case "SwapTotal", "SwapFree":
			x.From = e.swapFrom(k)
		default:
			x.From = meminfoRule(k, sv[k])
			if k == "MemFree" || k == "MemAvailable" {
				if m := e.snap.Memory; m != nil {
					x.From += fmt.Sprintf("; usage = %s of %s = %s", fileMemUsage.of(h), where, sizeString(m.UsageBytes))
				}
			} else if rest, ok := strings.CutPrefix(x.From, "memory.stat "); ok {
				x.From = fileMemStat.of(h) + " of " + e.pathShort("memory") + ": " + rest
			}
		}
		out = append(out, x)
	}
	return out
}

// pathShort is the caller's path for ctrl, without the hierarchy.
func (e *explainer) pathShort(ctrl string) string {
	if _, p, ok := e.hierarchy(ctrl); ok {
		return p
	}
	return "?"
}

func (e *explainer) swapFrom(field string) string {
	h, _, _ := e.hierarchy("memory")
	m := e.snap.Memory
	switch {
	case e.s.opts.Render.SwapOff:
		return "0: --disable-swap"
	case m == nil:
		return "the host's: memory cgroup unavailable"
	case m.Swap == nil:
		return "0: no swap accounting (" + fileSwapUsage.of(h) + " missing: swapaccount=0 or no CONFIG_MEMCG_SWAP)"
	}
	var limit string
	if h != nil && h.Version == 1 {
		limit = fmt.Sprintf("min(memory.memsw.limit_in_bytes) - min(memory.limit_in_bytes) over %s and ancestors = %s [memsw: %s]",
			e.path("memory"), limitString(m.Swap.Limit), e.chain("memory", fileSwapLimit.v1, describeLimit))
	} else {
		limit = fmt.Sprintf("min(memory.swap.max) over %s and ancestors = %s [%s]",
			e.path("memory"), limitString(m.Swap.Limit), e.chain("memory", fileSwapLimit.v2, describeLimit))
	}
	if field == "SwapTotal" {
		s := limit + ", capped at the host's SwapTotal"
		if m.Swappiness == 0 {
			s += "; swappiness 0: only what is already swapped"
		}
		return s
	}
	return fmt.Sprintf("SwapTotal - swap used (%s = %s)", fileSwapUsage.of(h), sizeString(m.Swap.UsageBytes))
}

func (e *explainer) swaps(_ vfiles.File, shown, host []byte) []Explanation {
	if bytes.Equal(shown, host) {
		return nil
	}
	line := "(none)"
	if lines := bytes.Split(bytes.TrimSpace(shown), []byte("\n")); len(lines) > 1 {
		line = string(lines[1])
	}
	return []Explanation{{Field: "virtual swap line", Shown: line, Host: strconv.Itoa(bytes.Count(host, []byte("\n"))-1) + " host devices",
		From: "size " + e.swapFrom("SwapTotal") + "; used " + e.swapFrom("SwapFree")}}
}

func countLines(b []byte) int { return bytes.Count(b, []byte("\n")) }

func countPrefix(b []byte, prefix string) int {
	n := 0
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte(prefix)) {
			n++
		}
	}
	return n
}

// cpusFrom says where the visible CPU set comes from.
func (e *explainer) cpusFrom() string {
	hs, _, _ := e.hierarchy("cpuset")
	var parts []string
	cpu := e.snap.CPU
	switch {
	case cpu == nil:
		parts = append(parts, "the host's online CPUs: cpuset/cpu cgroup unavailable")
	case cpu.CPUs.IsEmpty():
		parts = append(parts, "the host's online CPUs: no cpuset controller")
	default:
		parts = append(parts, fmt.Sprintf("effective cpuset %s of %s (nearest non-empty level) = %s, intersected with the host's online CPUs",
			fileCPUSet.of(hs), e.path("cpuset"), cpu.CPUs.String()))
	}
	if cpu != nil && e.s.opts.Render.CFS {
		hq, _, _ := e.hierarchy("cpu")
		q := "no quota"
		if cpu.QuotaCPUs > 0 {
			q = strconv.FormatFloat(cpu.QuotaCPUs, 'f', -1, 64) + " CPUs"
		}
		parts = append(parts, fmt.Sprintf("--enable-cfs: renumbered from 0 and cut to ceil(min(%s) over %s and ancestors) = %s [%s]",
			fileQuota.of(hq), e.path("cpu"), q, e.chain("cpu", fileQuotaParts.of(hq), func(b []byte) string { return string(bytes.TrimSpace(b)) })))
	}
	return strings.Join(parts, "; ")
}

func (e *explainer) cpus(field, shown, host string) []Explanation {
	if shown == host {
		return nil
	}
	return []Explanation{{Field: field, Shown: shown, Host: host, From: e.cpusFrom()}}
}

func (e *explainer) stat(_ vfiles.File, shown, host []byte) []Explanation {
	var out []Explanation
	if s, h := countPrefix(shown, "cpu")-1, countPrefix(host, "cpu")-1; s != h {
		out = append(out, Explanation{Field: "cpuN lines", Shown: strconv.Itoa(s), Host: strconv.Itoa(h), From: e.cpusFrom()})
	}
	sl, hl := firstLineOf(shown), firstLineOf(host)
	if sl != hl {
		hu, _, _ := e.hierarchy("usage")
		from := "the host's per-CPU times of the visible CPUs"
		if u := e.snap.Usage; u != nil {
			from = fmt.Sprintf("user/system from %s of %s (user %s, system %s); idle = elapsed x CPUs - busy",
				fileUsage.of(hu), e.path("usage"), nanos(u.UserNanos), nanos(u.SystemNanos))
		}
		out = append(out, Explanation{Field: "cpu", Shown: sl, Host: hl, From: from})
	}
	if s, h := statValue(shown, "btime"), statValue(host, "btime"); s != h {
		out = append(out, Explanation{Field: "btime", Shown: s, Host: h, From: e.bootFrom("host btime")})
	}
	for _, k := range []string{"procs_running", "procs_blocked"} {
		s, h := statValue(shown, k), statValue(host, k)
		if s != h {
			out = append(out, Explanation{Field: k, Shown: s, Host: h,
				From: "threads in state R/D in the container's cgroup subtree (tasks / cgroup.threads, then /proc/<tid>/stat)"})
		}
	}
	return out
}

// bootFrom says where the caller's boot comes from, for uptime (base "host
// uptime") and btime ("host btime"): they count from the same boot.
func (e *explainer) bootFrom(base string) string {
	b := e.s.boot(e.c)
	if ns := b.TimeNS; ns != nil {
		op := "+"
		if base == "host btime" {
			op = "-"
		}
		return fmt.Sprintf("%s %s the boottime offset of the time namespace of pid %d (%s s, /proc/%d/timens_offsets), as the kernel shows it there",
			base, op, e.c.TID, strconv.FormatFloat(float64(ns.BoottimeOffsetNanos)/1e9, 'f', -1, 64), e.c.TID)
	}
	op := "-"
	if base == "host btime" {
		op = "+"
	}
	return fmt.Sprintf("%s %s start time of the container init, pid %d (%d ticks / %d Hz): the container boots when its init starts",
		base, op, e.c.Init.PID, e.c.Init.StartTicks, clockTicks)
}

func nanos(n uint64) string { return strconv.FormatFloat(float64(n)/1e9, 'f', 2, 64) + " s" }

func firstLineOf(b []byte) string {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	return string(l)
}

func statValue(b []byte, key string) string {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(key+" ")); ok {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

func (e *explainer) uptime(_ vfiles.File, shown, host []byte) []Explanation {
	s, h := strings.Fields(string(shown)), strings.Fields(string(host))
	if len(s) < 2 || len(h) < 2 {
		return nil
	}
	var out []Explanation
	if s[0] != h[0] {
		out = append(out, Explanation{Field: "uptime", Shown: s[0], Host: h[0], From: e.bootFrom("host uptime")})
	}
	if s[1] != h[1] {
		from := "uptime x visible CPUs"
		if u := e.snap.Usage; u != nil {
			hu, _, _ := e.hierarchy("usage")
			from = fmt.Sprintf("uptime x visible CPUs (%d) - usage from %s of %s (%s), floored at 0",
				len(e.s.cpuView(e.snap).Host), fileUsage.of(hu), e.path("usage"), nanos(u.TotalNanos()))
		}
		out = append(out, Explanation{Field: "idle", Shown: s[1], Host: h[1], From: from})
	}
	return out
}

// unchangedReason says why f shows the host's values for the caller.
func (e *explainer) unchangedReason(f vfiles.File) string {
	if u := rendererOf(f).unchanged; u != nil {
		return u(e)
	}
	return "not virtualized"
}

// CPUViewOf is the CPU view of an already resolved caller.
func (s *Source) CPUViewOf(c *Caller) proc.CPUView {
	return s.cpuView(s.view.Snapshot(c.Cgroups, s.want(vfiles.CPUOnline)))
}

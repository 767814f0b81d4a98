// Package content produces the bytes of every virtual file for one caller:
// it finds the caller's container (hostcgroup), reads the host file that
// serves as the template, and hands both to the pure renderer in proc.
//
// It is the one place that joins I/O and rendering, so that the FUSE layer
// (fs) and the `show` command print exactly the same thing.
package content

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxcfs-go/lxcfs-go/cputimes"
	"github.com/lxcfs-go/lxcfs-go/fallback"
	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/loadavg"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// A virtual file is named by its vfiles.File key; the vfiles table says
// where it is and what it is rendered from, render.go how.

// hostName is f's host file below the procfs or sysfs root ("meminfo",
// "devices/system/cpu/online"); onSysfs reports the root is sysfs.
func hostName(f vfiles.File) string {
	h := f.Row().Host
	if rel, ok := strings.CutPrefix(h, "/proc/"); ok {
		return rel
	}
	return strings.TrimPrefix(h, "/sys/")
}

func onSysfs(f vfiles.File) bool { return !strings.HasPrefix(f.Row().Host, "/proc/") }

// ErrCallerGone is returned when the process that asked is no longer there.
var ErrCallerGone = errors.New("content: caller is gone")

// Options configures a Source.
type Options struct {
	ProcFS      string // "/proc"
	SysFS       string // "/sys"
	MountPrefix string // prefix for cgroup mount points; "" on a real host
	Render      proc.Options
	Logger      *slog.Logger
	// OnFallback is told of every value served from the host because the
	// container's could not be computed, here and in hostcgroup (the
	// events logged at debug level); nil tells nobody.
	OnFallback func(fallback.Reason)
	// Loadavg (-l) serves per-container load averages from a sampler that
	// starts with the first read of loadavg.
	Loadavg bool
	// PSIPoll (--enable-psi-poll) lets proc/pressure/* take trigger
	// writes and poll(2); see PressureFile.
	PSIPoll bool
	// Now is the clock of the loadavg and CPU-view histories and of the
	// host files' caches and of the snapshot cache; time.Now when nil.
	Now func() time.Time
	// Host reads the host's files; when nil, New makes one on ProcFS,
	// SysFS and Now. When set, its roots replace ProcFS and SysFS.
	Host *hostfs.FS
	// SnapshotTTL (--snapshot-ttl) is how long a container's cgroup
	// snapshot is shared by its readers (snapcache.go); 0 reads the
	// cgroup files on every read. The daemon's default is
	// DefaultSnapshotTTL.
	SnapshotTTL time.Duration
}

// Source renders virtual files. It is safe for concurrent use.
type Source struct {
	opts    Options
	view    *hostcgroup.View
	hostFS  *hostfs.FS
	online  atomic.Pointer[onlineEntry] // see hostOnlineSet
	log     *slog.Logger
	virtOff atomic.Bool
	sizes   [vfiles.Count]atomic.Pointer[sizeEntry]

	// fallbacks reports a file or value served from the host; the caller
	// logs it at debug level when Report says so.
	fallbacks fallback.Reporter

	// load keeps the load averages under -l; loadRun starts its sampling
	// loop once, at the first read of loadavg.
	load      *loadavg.Sampler
	loadCount *hostcgroup.LoadCounter
	loadRun   sync.Once
	loadDone  chan struct{} // closed when the sampling loop has returned
	stop      context.CancelFunc
	ctx       context.Context
	// cpuHist keeps the --enable-cfs per-CPU times.
	cpuHist *cputimes.History
	// snaps shares containers' snapshots between readers; nil when off.
	snaps *snapCache
}

// New detects the cgroup layout and returns a Source.
func New(opts Options) (*Source, error) {
	if opts.ProcFS == "" {
		opts.ProcFS = "/proc"
	}
	if opts.SysFS == "" {
		opts.SysFS = "/sys"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Host == nil {
		opts.Host = hostfs.New(hostfs.Options{ProcFS: opts.ProcFS, SysFS: opts.SysFS, Now: opts.Now})
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.ProcFS, opts.SysFS = opts.Host.ProcFS(), opts.Host.SysFS()
	view, err := hostcgroup.New(hostcgroup.Options{
		Host:        opts.Host,
		MountPrefix: opts.MountPrefix,
		Logger:      opts.Logger,
		OnFallback:  opts.OnFallback,
	})
	if err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	s := &Source{opts: opts, view: view, hostFS: opts.Host, log: opts.Logger,
		fallbacks: fallback.Reporter{Log: opts.Logger, On: opts.OnFallback},
		snaps:     newSnapCache(opts.SnapshotTTL, opts.Now)}
	s.ctx, s.stop = context.WithCancel(context.Background())
	if opts.Loadavg {
		s.loadCount = hostcgroup.NewLoadCounter(opts.ProcFS)
		s.load = loadavg.New(loadavg.Options{Counter: s.loadCount, Now: opts.Now, Logger: opts.Logger})
		s.loadDone = make(chan struct{})
	}
	if opts.Render.CFS {
		s.cpuHist = cputimes.New(cputimes.Options{Now: opts.Now, ClockTicks: clockTicks})
	}
	return s, nil
}

// Close stops the loadavg sampler and releases what it holds.
func (s *Source) Close() {
	s.stop()
	if s.load == nil {
		return
	}
	// Once the loop has returned (or can no longer start), nothing uses
	// the counter.
	s.loadRun.Do(func() { close(s.loadDone) })
	<-s.loadDone
	s.loadCount.Close()
}

// Loadavg is the sampler of -l; nil without it.
func (s *Source) Loadavg() *loadavg.Sampler { return s.load }

// View is the cgroup view the source reads.
func (s *Source) View() *hostcgroup.View { return s.view }

// SetVirtualization turns per-container content on or off (SIGUSR2). While
// off, every file is the host's.
func (s *Source) SetVirtualization(on bool) { s.virtOff.Store(!on) }

// Virtualizing reports whether per-container content is on.
func (s *Source) Virtualizing() bool { return !s.virtOff.Load() }

// HostPath is the host file behind f.
func (s *Source) HostPath(f vfiles.File) string {
	if onSysfs(f) {
		return filepath.Join(s.opts.SysFS, hostName(f))
	}
	return filepath.Join(s.opts.ProcFS, hostName(f))
}

// want lists the snapshot parts f needs. The CFS quota only matters under
// --enable-cfs.
func (s *Source) want(f vfiles.File) hostcgroup.Want {
	w := rendererOf(f).want
	if w&hostcgroup.WantCPU != 0 && s.opts.Render.CFS {
		w |= hostcgroup.WantCPUQuota
	}
	return w
}

// Caller is the container a request comes from.
type Caller struct {
	// TID is the thread that asked; its time namespace decides the boot
	// that uptime and btime count from.
	TID int
	// Ref is the process whose cgroups are used: the init of the caller's
	// pid namespace, or the caller itself in the daemon's namespace.
	Ref     hostcgroup.Process
	Init    hostcgroup.Process
	Cgroups hostcgroup.Cgroups
}

// Resolve finds the container of the thread tid.
func (s *Source) Resolve(tid int) (*Caller, error) {
	if tid <= 0 {
		return nil, fmt.Errorf("%w: request without a pid", ErrCallerGone)
	}
	ref, init, err := s.view.ContainerInit(tid)
	if err != nil {
		if errors.Is(err, hostcgroup.ErrNoProcess) {
			return nil, fmt.Errorf("%w: %w", ErrCallerGone, err)
		}
		return nil, err
	}
	cgs, err := s.view.Cgroups(ref.PID)
	if err != nil {
		if errors.Is(err, hostcgroup.ErrNoProcess) {
			return nil, fmt.Errorf("%w: %w", ErrCallerGone, err)
		}
		return nil, err
	}
	return &Caller{TID: tid, Ref: ref, Init: init, Cgroups: cgs}, nil
}

// Render appends the content of f as the thread tid sees it to dst.
func (s *Source) Render(dst []byte, f vfiles.File, tid int) ([]byte, error) {
	return s.render(dst, f, tid, s.Resolve)
}

// render is Render with the way a caller is resolved left open (show
// resolves a pid without its pid namespace).
func (s *Source) render(dst []byte, f vfiles.File, pid int, resolve func(int) (*Caller, error)) ([]byte, error) {
	if f < 0 || f >= vfiles.Count {
		return dst, fmt.Errorf("content: unknown file %d", f)
	}
	if r := renderers[f]; r.fixed != "" {
		return append(dst, r.fixed...), nil
	}
	if !s.Virtualizing() {
		return s.host(dst, f)
	}
	c, err := resolve(pid)
	if err != nil {
		if errors.Is(err, ErrCallerGone) {
			return dst, err
		}
		if s.fallbacks.Report(fallback.NoContainer) {
			s.log.Debug("no container view, serving the host file", "file", hostName(f), "pid", pid, "err", err)
		}
		return s.host(dst, f)
	}
	return s.RenderFor(dst, f, c)
}

// boot is when the caller's system booted: its container init's start, or
// its time namespace's boot when it is in one with an offset of its own
// (proc.Boot). An offset that cannot be read counts as none.
func (s *Source) boot(c *Caller) proc.Boot {
	b := proc.Boot{InitStartTicks: c.Init.StartTicks, ClockTicks: clockTicks}
	if c.TID <= 0 {
		return b
	}
	off, ok, err := s.view.BoottimeOffset(c.TID)
	if err != nil {
		if s.fallbacks.Report(fallback.TimeNamespace) {
			s.log.Debug("time namespace offset unavailable, counting from the container init", "pid", c.TID, "err", err)
		}
		return b
	}
	if ok && off != 0 {
		b.TimeNS = &proc.TimeNS{BoottimeOffsetNanos: off}
	}
	return b
}

// loadFor is the caller's load under -l; nil (the host's file) without -l,
// for the root cgroup, or when its tasks cannot be counted.
func (s *Source) loadFor(c *Caller) *proc.Load {
	if s.load == nil {
		return nil
	}
	cg, ok := s.view.LoadCgroup(c.Cgroups)
	if !ok {
		return nil
	}
	s.loadRun.Do(func() {
		go func() {
			defer close(s.loadDone)
			s.load.Run(s.ctx)
		}()
	})
	v, err := s.load.Read(cg)
	if err != nil {
		if s.fallbacks.Report(fallback.Loadavg) {
			s.log.Debug("container load unavailable, serving the host file", "pid", c.Ref.PID, "cgroup", cg.Dir, "err", err)
		}
		return nil
	}
	return &proc.Load{Avg: v.Avg, Running: v.Running, Total: v.Total, LastPID: s.lastPIDFor(c, v.LastPID)}
}

// lastPIDFor is loadavg's last-pid field for the caller: the container's
// newest thread (the largest host thread id of its cgroup, kept by the
// sampler) as the caller's pid namespace numbers it, since a host pid means
// nothing there (and can go down as host pids wrap). When that thread is
// gone or the caller cannot see it, the init of the caller's namespace
// stands in: a pid the caller can always see.
func (s *Source) lastPIDFor(c *Caller, hostPID int) int {
	if c.TID <= 0 || hostPID <= 0 {
		return hostPID
	}
	if n, ok := s.view.PIDIn(c.TID, hostPID, c.Init.PID); ok {
		return n
	}
	return 0
}

// cpuTimes is the --enable-cfs per-CPU history of the caller's container;
// nil without --enable-cfs or without usage (stat then shows the stateless
// lines).
func (s *Source) cpuTimes(c *Caller, view proc.CPUView, snap *hostcgroup.Snapshot) []proc.CPUTimes {
	u := snap.Usage
	if s.cpuHist == nil || u == nil || !view.Renumber || len(view.Host) == 0 {
		return nil
	}
	var quota float64
	if snap.CPU != nil {
		quota = snap.CPU.QuotaCPUs
	}
	key := c.Cgroups.V1["cpuacct"] + "\x00" + c.Cgroups.Unified
	return s.cpuHist.Times(cputimes.Input{
		QuotaCPUs:   quota,
		Key:         key,
		CPUs:        len(view.Host),
		UserTicks:   nsTicks(u.UserNanos),
		SystemTicks: nsTicks(u.SystemNanos),
		AgeTicks:    s.ageTicks(c),
	})
}

func nsTicks(ns uint64) uint64 { return ns / (1e9 / clockTicks) }

// ageTicks is the age of the caller's container init in clock ticks; 0
// when unknown.
func (s *Source) ageTicks(c *Caller) uint64 {
	b, err := s.read(vfiles.Uptime)
	if err != nil {
		return 0
	}
	up, err := hostfs.ParseUptime(b)
	if err != nil {
		return 0
	}
	now := uint64(up.Seconds * clockTicks)
	if now < c.Init.StartTicks {
		return 0
	}
	return now - c.Init.StartTicks
}

// psiResource is the resource of a pressure file: the name of its host
// file ("cpu", "io", "memory").
func psiResource(f vfiles.File) string { return path.Base(hostName(f)) }

// PSIPoll reports whether --enable-psi-poll is on.
func (s *Source) PSIPoll() bool { return s.opts.PSIPoll }

// PressureFile is the cgroup pressure file behind proc/pressure/<res> for
// the thread tid, for trigger writes and poll under --enable-psi-poll. It
// is the host's /proc/pressure file where the container has none (no
// cgroup2, the root cgroup), as reads are.
func (s *Source) PressureFile(f vfiles.File, tid int) (string, error) {
	if !f.Pressure() {
		return "", fmt.Errorf("content: %s is no pressure file", hostName(f))
	}
	if !s.Virtualizing() {
		return s.HostPath(f), nil
	}
	c, err := s.Resolve(tid)
	if err != nil {
		if errors.Is(err, ErrCallerGone) {
			return "", err
		}
		return s.HostPath(f), nil
	}
	if name, ok := s.view.PSIFile(c.Cgroups, psiResource(f)); ok {
		if _, err := os.Stat(name); err == nil {
			return name, nil
		}
	}
	return s.HostPath(f), nil
}

// CPUView is the set of CPUs the caller sees; the sys cpu tree lists it.
func (s *Source) CPUView(tid int) (proc.CPUView, error) {
	if !s.Virtualizing() {
		return proc.NewCPUView(nil, s.hostOnline(), s.opts.Render), nil
	}
	c, err := s.Resolve(tid)
	if err != nil {
		if errors.Is(err, ErrCallerGone) {
			return proc.CPUView{}, err
		}
		return proc.NewCPUView(nil, s.hostOnline(), s.opts.Render), nil
	}
	return s.cpuView(s.snapshot(c, s.want(vfiles.CPUOnline))), nil
}

// snapshot is the parts want of c's cgroups, shared with the container's
// other readers for up to Options.SnapshotTTL: never modify it.
func (s *Source) snapshot(c *Caller, want hostcgroup.Want) *hostcgroup.Snapshot {
	return s.snaps.snapshot(c, want, s.view.Snapshot)
}

func (s *Source) cpuView(snap *hostcgroup.Snapshot) proc.CPUView {
	return proc.NewCPUView(snap.CPU, s.hostOnline(), s.opts.Render)
}

// hostOnline is the host's online CPU list; an unreadable file gives CPU 0
// alone rather than an empty view.
func (s *Source) hostOnline() hostcgroup.CPUSet {
	return s.hostOnlineSet()
}

func (s *Source) host(dst []byte, f vfiles.File) ([]byte, error) {
	b, err := s.read(f)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func (s *Source) read(f vfiles.File) ([]byte, error) {
	b, err := s.readHost(f)
	if err != nil {
		return nil, fmt.Errorf("content: host file: %w", err)
	}
	return b, nil
}

// clockTicks is USER_HZ, which the kernel fixes at 100 on every
// architecture Linux supports for /proc.
const clockTicks = 100

// sizeSlack covers content a little longer than the host file it derives
// from (wider numbers in synthesized lines).
const sizeSlack = 512

// sizeTTL bounds how often SizeHint reads a host file.
const sizeTTL = time.Second

type sizeEntry struct {
	size uint64
	at   time.Time
}

// SizeHint is an upper bound of f's size for every caller: the host file's
// length plus slack, rounded up to a page. The sys cpu lists and cpuN/online
// are one page, as in sysfs.
func (s *Source) SizeHint(f vfiles.File) uint64 {
	if f < 0 || f >= vfiles.Count || onSysfs(f) {
		return pageSize
	}
	now := s.hostFS.Now()
	if e := s.sizes[f].Load(); e != nil && now.Sub(e.at) < sizeTTL {
		return e.size
	}
	size := uint64(pageSize)
	if b, err := s.readHost(f); err == nil {
		size = (uint64(len(b)) + sizeSlack + pageSize - 1) / pageSize * pageSize
	}
	s.sizes[f].Store(&sizeEntry{size: size, at: now})
	return size
}

const pageSize = 4096

// Package content produces the bytes of every virtual file for one caller:
// it finds the caller's container (cgroupview), reads the host file that
// serves as the template, and hands both to the pure renderer in proc.
//
// It is the one place that joins I/O and rendering, so that the FUSE layer
// (fs) and the `show` command print exactly the same thing.
package content

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/lxcfs-go/lxcfs-go/cgroupview"
	"github.com/lxcfs-go/lxcfs-go/proc"
)

// File names one virtual file.
type File int

const (
	Meminfo File = iota
	CPUInfo
	Stat
	Uptime
	Swaps
	Slabinfo
	Loadavg
	Diskstats
	PressureCPU
	PressureIO
	PressureMemory
	// CPUOnline, CPUPresent and CPUPossible are the lists in
	// /sys/devices/system/cpu; CPUOffline is the empty list beside them.
	CPUOnline
	CPUPresent
	CPUPossible
	CPUOffline
	// CPUNOnline is cpuN/online of a visible CPU: always "1".
	CPUNOnline
	numFiles
)

// hostPath is the host file each virtual file is rendered from, relative to
// procfs (or sysfs for the cpu lists).
var hostPath = [numFiles]string{
	Meminfo:        "meminfo",
	CPUInfo:        "cpuinfo",
	Stat:           "stat",
	Uptime:         "uptime",
	Swaps:          "swaps",
	Slabinfo:       "slabinfo",
	Loadavg:        "loadavg",
	Diskstats:      "diskstats",
	PressureCPU:    "pressure/cpu",
	PressureIO:     "pressure/io",
	PressureMemory: "pressure/memory",
	CPUOnline:      "devices/system/cpu/online",
	CPUPresent:     "devices/system/cpu/present",
	CPUPossible:    "devices/system/cpu/possible",
	CPUOffline:     "devices/system/cpu/offline",
}

func (f File) onSysfs() bool { return f >= CPUOnline }

// ErrCallerGone is returned when the process that asked is no longer there.
var ErrCallerGone = errors.New("content: caller is gone")

// Options configures a Source.
type Options struct {
	ProcFS      string // "/proc"
	SysFS       string // "/sys"
	MountPrefix string // prefix for cgroup mount points; "" on a real host
	Render      proc.Options
	Logger      *slog.Logger
}

// Source renders virtual files. It is safe for concurrent use.
type Source struct {
	opts    Options
	view    *cgroupview.View
	log     *slog.Logger
	virtOff atomic.Bool
	sizes   [numFiles]atomic.Pointer[sizeEntry]
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
	view, err := cgroupview.New(cgroupview.Options{
		ProcFS:      opts.ProcFS,
		MountPrefix: opts.MountPrefix,
		Logger:      opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	return &Source{opts: opts, view: view, log: opts.Logger}, nil
}

// View is the cgroup view the source reads.
func (s *Source) View() *cgroupview.View { return s.view }

// SetVirtualization turns per-container content on or off (SIGUSR2). While
// off, every file is the host's.
func (s *Source) SetVirtualization(on bool) { s.virtOff.Store(!on) }

// Virtualizing reports whether per-container content is on.
func (s *Source) Virtualizing() bool { return !s.virtOff.Load() }

// HostPath is the host file behind f.
func (s *Source) HostPath(f File) string {
	if f.onSysfs() {
		return filepath.Join(s.opts.SysFS, hostPath[f])
	}
	return filepath.Join(s.opts.ProcFS, hostPath[f])
}

// want lists the snapshot parts each file needs.
func want(f File) cgroupview.Want {
	switch f {
	case Meminfo, Swaps:
		return cgroupview.WantMemory
	case CPUInfo, CPUOnline, CPUPresent, CPUPossible:
		return cgroupview.WantCPU
	case Stat:
		return cgroupview.WantCPU | cgroupview.WantUsage | cgroupview.WantTasks
	case Uptime:
		return cgroupview.WantCPU | cgroupview.WantUsage
	case Slabinfo:
		return cgroupview.WantSlabinfo
	}
	return 0
}

// Caller is the container a request comes from.
type Caller struct {
	// Ref is the process whose cgroups are used: the init of the caller's
	// pid namespace, or the caller itself in the daemon's namespace.
	Ref     cgroupview.Process
	Init    cgroupview.Process
	Cgroups cgroupview.Cgroups
}

// Resolve finds the container of the thread tid.
func (s *Source) Resolve(tid int) (*Caller, error) {
	if tid <= 0 {
		return nil, fmt.Errorf("%w: request without a pid", ErrCallerGone)
	}
	ref, init, err := s.view.ContainerInit(tid)
	if err != nil {
		if errors.Is(err, cgroupview.ErrNoProcess) {
			return nil, fmt.Errorf("%w: %w", ErrCallerGone, err)
		}
		return nil, err
	}
	cgs, err := s.view.Cgroups(ref.PID)
	if err != nil {
		if errors.Is(err, cgroupview.ErrNoProcess) {
			return nil, fmt.Errorf("%w: %w", ErrCallerGone, err)
		}
		return nil, err
	}
	return &Caller{Ref: ref, Init: init, Cgroups: cgs}, nil
}

// Render appends the content of f as the thread tid sees it to dst.
func (s *Source) Render(dst []byte, f File, tid int) ([]byte, error) {
	if f < 0 || f >= numFiles {
		return dst, fmt.Errorf("content: unknown file %d", f)
	}
	if f == CPUNOnline {
		return append(dst, "1\n"...), nil
	}
	if !s.Virtualizing() {
		return s.host(dst, f)
	}
	c, err := s.Resolve(tid)
	if err != nil {
		if errors.Is(err, ErrCallerGone) {
			return dst, err
		}
		s.log.Debug("no container view, serving the host file", "file", hostPath[f], "pid", tid, "err", err)
		return s.host(dst, f)
	}
	return s.RenderFor(dst, f, c)
}

// RenderFor appends the content of f for an already resolved caller.
func (s *Source) RenderFor(dst []byte, f File, c *Caller) ([]byte, error) {
	snap := s.view.Snapshot(c.Cgroups, want(f))
	switch f {
	case Meminfo:
		host, err := s.read(f)
		if err != nil {
			return dst, err
		}
		return proc.Meminfo(dst, host, snap.Memory, s.opts.Render), nil
	case Swaps:
		host, err := s.read(f)
		if err != nil {
			return dst, err
		}
		mem, err := s.read(Meminfo)
		if err != nil {
			return dst, err
		}
		return proc.Swaps(dst, host, mem, snap.Memory, s.opts.Render), nil
	case CPUInfo:
		host, err := s.read(f)
		if err != nil {
			return dst, err
		}
		return proc.CPUInfo(dst, host, s.cpuView(snap)), nil
	case Stat:
		host, err := s.read(f)
		if err != nil {
			return dst, err
		}
		if t := snap.Tasks; t != nil && t.Blocked > 0 {
			// The reading thread waits for this reply in state D; the
			// kernel counts the reader of /proc/stat as running.
			t.Blocked--
			t.Running++
		}
		return proc.Stat(dst, host, proc.StatInput{View: s.cpuView(snap), Usage: snap.Usage, ClockTicks: clockTicks, Tasks: snap.Tasks}), nil
	case Uptime:
		host, err := s.read(f)
		if err != nil {
			return dst, err
		}
		return proc.Uptime(dst, host, proc.UptimeInput{
			InitStartTicks: c.Init.StartTicks,
			ClockTicks:     clockTicks,
			VisibleCPUs:    len(s.cpuView(snap).Host),
			Usage:          snap.Usage,
		}), nil
	case Slabinfo:
		host, err := s.read(f)
		if err != nil {
			return dst, err
		}
		return proc.Slabinfo(dst, host, snap.Slabinfo), nil
	case CPUOnline, CPUPresent, CPUPossible:
		return proc.CPUList(dst, s.cpuView(snap)), nil
	case CPUOffline:
		return append(dst, '\n'), nil
	}
	return s.host(dst, f)
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
	return s.cpuView(s.view.Snapshot(c.Cgroups, cgroupview.WantCPU)), nil
}

func (s *Source) cpuView(snap *cgroupview.Snapshot) proc.CPUView {
	return proc.NewCPUView(snap.CPU, s.hostOnline(), s.opts.Render)
}

// hostOnline is the host's online CPU list; an unreadable file gives CPU 0
// alone rather than an empty view.
func (s *Source) hostOnline() cgroupview.CPUSet {
	b, err := os.ReadFile(s.HostPath(CPUOnline))
	if err == nil {
		if set, err := cgroupview.ParseCPUSet(string(b)); err == nil && !set.IsEmpty() {
			return set
		}
	}
	var set cgroupview.CPUSet
	set.Add(0)
	return set
}

func (s *Source) host(dst []byte, f File) ([]byte, error) {
	b, err := s.read(f)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func (s *Source) read(f File) ([]byte, error) {
	b, err := os.ReadFile(s.HostPath(f))
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
func (s *Source) SizeHint(f File) uint64 {
	if f < 0 || f >= numFiles || f.onSysfs() || f == CPUNOnline {
		return pageSize
	}
	if e := s.sizes[f].Load(); e != nil && time.Since(e.at) < sizeTTL {
		return e.size
	}
	size := uint64(pageSize)
	if b, err := os.ReadFile(s.HostPath(f)); err == nil {
		size = (uint64(len(b)) + sizeSlack + pageSize - 1) / pageSize * pageSize
	}
	s.sizes[f].Store(&sizeEntry{size: size, at: time.Now()})
	return size
}

const pageSize = 4096

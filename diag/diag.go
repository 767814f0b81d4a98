package diag

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/daemon"
	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// Status is the outcome of one check.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn" // works, with a feature missing or degraded
	Fail Status = "fail" // the daemon cannot run (when the check is Required)
	Info Status = "info" // facts, no judgement
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Required says a failure stops the daemon from running.
	Required bool `json:"required,omitempty"`
}

// Controller says which hierarchy serves one controller.
type Controller struct {
	Name       string `json:"name"`
	Version    int    `json:"version,omitempty"` // 1 or 2; 0 when missing
	MountPoint string `json:"mount_point,omitempty"`
}

// Instance is a mounted lxcfs-go (or lxcfs) found in mountinfo.
type Instance struct {
	MountPoint string `json:"mount_point"`
	Source     string `json:"source"`
	// Ours is true for source lxcfs-go, false for the C lxcfs.
	Ours bool `json:"ours"`
	// Health is "ok", "dead" (ENOTCONN: the daemon is gone), "hung"
	// (no answer within the timeout) or "error".
	Health string `json:"health"`
	Detail string `json:"detail,omitempty"`
}

// Report is the result of Run.
type Report struct {
	CanRun      bool         `json:"can_run"`
	Kernel      string       `json:"kernel"`
	Layout      string       `json:"layout"`
	Controllers []Controller `json:"controllers"`
	Checks      []Check      `json:"checks"`
	Instances   []Instance   `json:"instances"`
}

// Options says where the host's files are.
type Options struct {
	ProcFS      string // "/proc"
	SysFS       string // "/sys"
	DevFS       string // "/dev"
	MountPrefix string // prepended to cgroup mount points; "" on a host
	// Timeout bounds the health probe of each mounted instance.
	Timeout time.Duration
	// Euid is the effective uid to judge privileges by; -1 means the
	// process's own.
	Euid int
}

func (o *Options) defaults() {
	if o.ProcFS == "" {
		o.ProcFS = "/proc"
	}
	if o.SysFS == "" {
		o.SysFS = "/sys"
	}
	if o.DevFS == "" {
		o.DevFS = "/dev"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
}

// live reports whether the checks look at the running kernel.
func (o *Options) live() bool { return filepath.Clean(o.ProcFS) == "/proc" && o.MountPrefix == "" }

// controllers are the controllers reported, in order.
var controllers = []string{"memory", "cpu", "cpuacct", "cpuset", "blkio", "io", "pids"}

// Run performs every check.
func Run(opts Options) *Report {
	opts.defaults()
	r := &Report{Controllers: []Controller{}, Checks: []Check{}, Instances: []Instance{}}
	r.Kernel = kernelRelease(opts)
	major, minor, kok := parseRelease(r.Kernel)
	atLeast := func(a, b int) bool { return kok && (major > a || major == a && minor >= b) }

	r.add(privileges(opts))
	r.add(devFUSE(opts))

	view, err := hostcgroup.New(hostcgroup.Options{ProcFS: opts.ProcFS, MountPrefix: opts.MountPrefix})
	if err != nil {
		r.add(Check{Name: "cgroup layout", Status: Fail, Required: true, Detail: err.Error()})
	} else {
		l := view.Layout()
		r.Layout = l.Kind.String()
		detail := l.Kind.String()
		switch l.Kind {
		case hostcgroup.LayoutHybrid:
			detail += fmt.Sprintf(": %d v1 hierarchies, cgroup2 at %s", len(l.Hierarchies), l.Unified.MountPoint)
		case hostcgroup.LayoutV1:
			detail += fmt.Sprintf(": %d v1 hierarchies, no cgroup2", len(l.Hierarchies))
		case hostcgroup.LayoutV2:
			detail += fmt.Sprintf(": cgroup2 at %s (%s)", l.Unified.MountPoint, strings.Join(l.Unified.Controllers, " "))
		}
		r.add(Check{Name: "cgroup layout", Status: OK, Required: true, Detail: detail})
		for _, c := range controllers {
			ctl := Controller{Name: c}
			if h := l.ForController(c); h != nil {
				ctl.Version, ctl.MountPoint = h.Version, h.MountPoint
			}
			r.Controllers = append(r.Controllers, ctl)
		}
		r.add(controllerCheck(l))
		r.add(swapAccounting(opts, l))
		r.add(psi(opts, l))
	}
	r.add(userNamespaces(opts))
	r.add(initLookup(opts, atLeast(6, 11)))
	r.add(fuseResend(atLeast(6, 9)))
	r.add(fuseURing(opts, atLeast(6, 14)))
	r.add(pidfd(opts, atLeast(5, 3)))
	r.Instances = instances(opts)
	r.add(instanceCheck(r.Instances))

	r.CanRun = true
	for _, c := range r.Checks {
		if c.Required && c.Status == Fail {
			r.CanRun = false
		}
	}
	return r
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

// kernelRelease is ProcFS/sys/kernel/osrelease, else uname's release.
func kernelRelease(o Options) string {
	if b, err := os.ReadFile(filepath.Join(o.ProcFS, "sys/kernel/osrelease")); err == nil {
		return strings.TrimSpace(string(b))
	}
	if !o.live() {
		return "unknown"
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// parseRelease reads "6.18.44-fc-v857" as 6, 18.
func parseRelease(s string) (major, minor int, ok bool) {
	a, rest, _ := strings.Cut(s, ".")
	b, _, _ := strings.Cut(rest, ".")
	end := strings.IndexFunc(b, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		b = b[:end]
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	return major, minor, err1 == nil && err2 == nil
}

func privileges(o Options) Check {
	euid := o.Euid
	if euid < 0 {
		euid = os.Geteuid()
	}
	c := Check{Name: "privileges", Required: true}
	if euid == 0 {
		c.Status, c.Detail = OK, "running as root (mount(2) and allow_other need CAP_SYS_ADMIN)"
	} else {
		c.Status, c.Detail = Fail, fmt.Sprintf("euid %d: the daemon mounts with mount(2) and needs root", euid)
	}
	return c
}

func devFUSE(o Options) Check {
	name := filepath.Join(o.DevFS, "fuse")
	c := Check{Name: "/dev/fuse", Required: true}
	st, err := os.Stat(name)
	switch {
	case err != nil:
		c.Status, c.Detail = Fail, fmt.Sprintf("%v (modprobe fuse; in a container, pass the device)", err)
		return c
	case st.Mode()&fs.ModeCharDevice == 0 && o.live():
		c.Status, c.Detail = Fail, name+" is not a character device"
		return c
	}
	c.Status, c.Detail = OK, name+" present"
	if o.live() && filepath.Clean(o.DevFS) == "/dev" {
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			c.Status, c.Detail = Fail, fmt.Sprintf("cannot open %s: %v", name, err)
			return c
		}
		f.Close()
		c.Detail = name + " opens read-write"
	}
	return c
}

func controllerCheck(l *hostcgroup.Layout) Check {
	var missing []string
	for _, c := range []string{"memory", "cpuset", "cpu"} {
		if l.ForController(c) == nil {
			missing = append(missing, c)
		}
	}
	c := Check{Name: "controllers"}
	if len(missing) == 0 {
		c.Status, c.Detail = OK, "memory, cpu and cpuset available"
		return c
	}
	c.Status = Warn
	c.Detail = "missing " + strings.Join(missing, ", ") + ": the files they virtualize show the host's values"
	if slices.Contains(missing, "memory") {
		c.Detail += " (memory: boot with cgroup_enable=memory)"
	}
	return c
}

// swapAccounting looks for the memory+swap (v1) or swap (v2) files. On v2
// the root cgroup has none, so a first-level child is tried.
func swapAccounting(o Options, l *hostcgroup.Layout) Check {
	c := Check{Name: "swap accounting"}
	h := l.ForController("memory")
	if h == nil {
		c.Status, c.Detail = Warn, "no memory controller"
		return c
	}
	base := o.MountPrefix + h.MountPoint
	file := "memory.memsw.usage_in_bytes"
	if h.Version == 2 {
		file = "memory.swap.current"
	}
	found := exists(filepath.Join(base, file))
	if !found {
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			if e.IsDir() && exists(filepath.Join(base, e.Name(), file)) {
				found = true
				break
			}
		}
	}
	if found {
		c.Status, c.Detail = OK, file+" present: SwapTotal/SwapFree and swaps follow the container's swap limit"
	} else {
		c.Status, c.Detail = Warn, "no "+file+" (swapaccount=0 or no CONFIG_MEMCG_SWAP): containers see no swap"
	}
	return c
}

func psi(o Options, l *hostcgroup.Layout) Check {
	c := Check{Name: "PSI"}
	host := exists(filepath.Join(o.ProcFS, "pressure/cpu"))
	cg := false
	if l.Unified != nil {
		base := o.MountPrefix + l.Unified.MountPoint
		cg = exists(filepath.Join(base, "cpu.pressure"))
		if !cg {
			entries, _ := os.ReadDir(base)
			for _, e := range entries {
				if e.IsDir() && exists(filepath.Join(base, e.Name(), "cpu.pressure")) {
					cg = true
					break
				}
			}
		}
	}
	switch {
	case host && cg:
		c.Status, c.Detail = OK, "/proc/pressure and per-cgroup *.pressure in "+l.Unified.MountPoint
	case host && l.Unified == nil:
		c.Status, c.Detail = Warn, "/proc/pressure only: no cgroup2 mount for per-container pressure"
	case host:
		c.Status, c.Detail = Warn, "/proc/pressure only: no *.pressure files in the cgroup2 hierarchy"
	default:
		c.Status, c.Detail = Warn, "no /proc/pressure (kernel without CONFIG_PSI, or booted with psi=0)"
	}
	return c
}

func userNamespaces(o Options) Check {
	c := Check{Name: "user namespaces"}
	b, err := os.ReadFile(filepath.Join(o.ProcFS, "sys/user/max_user_namespaces"))
	if err != nil {
		c.Status, c.Detail = Warn, "unknown: "+err.Error()
		return c
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if n == 0 {
		c.Status, c.Detail = Warn, "disabled (user.max_user_namespaces = 0): unprivileged containers cannot start"
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("enabled (max %d)", n)
	if b, err := os.ReadFile(filepath.Join(o.ProcFS, "sys/kernel/unprivileged_userns_clone")); err == nil && strings.TrimSpace(string(b)) == "0" {
		c.Detail += "; unprivileged creation off (kernel.unprivileged_userns_clone = 0)"
	}
	return c
}

// initLookup: NS_GET_TGID_FROM_PIDNS (6.11+) finds a container's init with
// one ioctl; without it the daemon scans /proc.
func initLookup(o Options, byRelease bool) Check {
	c := Check{Name: "pidns init lookup"}
	ok := byRelease
	how := "by kernel release"
	if o.live() {
		ok, how = probeNSGetTGID(), "probed"
	}
	if ok {
		c.Status, c.Detail = OK, "NS_GET_TGID_FROM_PIDNS ("+how+"): container inits found without fork or /proc scan"
	} else {
		c.Status, c.Detail = Warn, "no NS_GET_TGID_FROM_PIDNS (Linux 6.11+): container inits found by scanning /proc (slower with many processes)"
	}
	return c
}

func probeNSGetTGID() bool {
	fd, err := unix.Open("/proc/self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.NS_GET_TGID_FROM_PIDNS), 1)
	return errno == 0 && int(r) > 0
}

func fuseResend(ok bool) Check {
	c := Check{Name: "FUSE resend"}
	if ok {
		c.Status, c.Detail = OK, "Linux 6.9+: requests pending at an upgrade or crash can be resent to the successor"
	} else {
		c.Status, c.Detail = Warn, "kernel before 6.9: requests in flight during an upgrade or crash may fail"
	}
	return c
}

// fuseURing says which FUSE transport a new mount gets with
// --fuse-uring=auto, and why.
func fuseURing(o Options, byRelease bool) Check {
	c := Check{Name: "FUSE over io_uring", Status: Info}
	b, err := os.ReadFile(filepath.Join(o.SysFS, "module/fuse/parameters/enable_uring"))
	switch {
	case err != nil && byRelease:
		c.Detail = "classic: the fuse module has no enable_uring parameter (built without CONFIG_FUSE_IO_URING?)"
	case err != nil:
		c.Detail = "classic: kernel before 6.14 has no FUSE over io_uring"
	case strings.TrimSpace(string(b)) != "Y":
		c.Detail = "classic: enable_uring is " + strings.TrimSpace(string(b)) +
			" (echo Y > /sys/module/fuse/parameters/enable_uring, or run with --fuse-uring=on as root)"
	default:
		c.Status, c.Detail = OK, "io_uring: enable_uring is Y; new mounts serve on per-CPU rings (--fuse-uring=auto)"
	}
	return c
}

func pidfd(o Options, byRelease bool) Check {
	c := Check{Name: "pidfd"}
	ok := byRelease
	if o.live() {
		fd, err := unix.PidfdOpen(os.Getpid(), 0)
		ok = err == nil
		if ok {
			unix.Close(fd)
		}
	}
	if ok {
		c.Status, c.Detail = OK, "pidfd_open available"
	} else {
		c.Status, c.Detail = Warn, "no pidfd_open (Linux 5.3+): process identity checked by start time only"
	}
	return c
}

// instances finds fuse.lxcfs mounts in ProcFS/self/mountinfo and probes
// each. Mount points are used as they are (they are live mounts).
func instances(o Options) []Instance {
	out := []Instance{}
	f, err := os.Open(filepath.Join(o.ProcFS, "self/mountinfo"))
	if err != nil {
		return out
	}
	defer f.Close()
	mounts, err := hostfs.ParseMountinfo(bufio.NewReader(f))
	if err != nil {
		return out
	}
	for _, m := range mounts {
		if m.FSType != "fuse.lxcfs" {
			continue
		}
		in := Instance{MountPoint: m.MountPoint, Source: m.Source, Ours: m.Source == "lxcfs-go"}
		in.Health, in.Detail = probe(m.MountPoint, o.Timeout)
		out = append(out, in)
	}
	return out
}

// probe stats and reads proc/meminfo below dir within timeout. A hung FUSE
// daemon blocks the calls forever; the goroutine is then left behind, which
// a one-shot command can afford.
func probe(dir string, timeout time.Duration) (health, detail string) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		name := filepath.Join(dir, "proc/meminfo")
		if _, err := os.Stat(name); err != nil {
			done <- result{err: err}
			return
		}
		f, err := os.Open(name)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		done <- result{n: len(b), err: err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case r := <-done:
		switch {
		case daemon.DeadConn(r.err):
			return "dead", r.err.Error() + ": the daemon behind this mount is gone; restart lxcfs-go on it to recover"
		case r.err != nil:
			return "error", r.err.Error()
		case r.n == 0:
			return "error", "proc/meminfo is empty"
		}
		return "ok", fmt.Sprintf("proc/meminfo read, %d bytes", r.n)
	case <-ctx.Done():
		return "hung", fmt.Sprintf("no answer within %v", timeout)
	}
}

func instanceCheck(ins []Instance) Check {
	c := Check{Name: "mounted instance"}
	var ours []Instance
	for _, in := range ins {
		if in.Ours {
			ours = append(ours, in)
		}
	}
	if len(ours) == 0 {
		c.Status, c.Detail = Info, "no lxcfs-go mount"
		if len(ins) > 0 {
			c.Detail += fmt.Sprintf(" (%d lxcfs mount(s) of another daemon)", len(ins))
		}
		return c
	}
	c.Status = OK
	var parts []string
	for _, in := range ours {
		parts = append(parts, in.MountPoint+": "+in.Health)
		if in.Health != "ok" {
			c.Status = Warn
		}
	}
	c.Detail = strings.Join(parts, "; ")
	return c
}

func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "kernel:  %s\n", r.Kernel)
	if r.Layout != "" {
		fmt.Fprintf(w, "cgroups: %s\n", r.Layout)
		for _, c := range r.Controllers {
			where := "missing"
			if c.Version != 0 {
				where = fmt.Sprintf("cgroup v%d at %s", c.Version, c.MountPoint)
			}
			fmt.Fprintf(w, "  %-8s %s\n", c.Name, where)
		}
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-6s %-18s %s\n", "["+string(c.Status)+"]", c.Name, c.Detail)
	}
	for _, in := range r.Instances {
		who := "lxcfs-go"
		if !in.Ours {
			who = "lxcfs (" + in.Source + ")"
		}
		fmt.Fprintf(w, "mount  %s %s: %s (%s)\n", in.MountPoint, who, in.Health, in.Detail)
	}
	fmt.Fprintln(w)
	if r.CanRun {
		fmt.Fprintln(w, "lxcfs-go can run here.")
	} else {
		fmt.Fprintln(w, "lxcfs-go cannot run here: see the [fail] lines.")
	}
}

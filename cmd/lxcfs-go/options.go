package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/fs"
)

// options are lxcfs's command line, parsed the way users type it: short
// options combine (-fl), long options take "--opt value" or "--opt=value".
type options struct {
	foreground   bool
	debug        bool
	loadavg      bool
	swapOff      bool
	zswapOff     bool
	cfs          bool
	psiPoll      bool
	noCgroup     bool
	enableCgroup bool // lxcfs 6's --enable-cgroup: the tree is on anyway
	pidfile      string
	runtimeDir   string
	fuseOpts     []string
	help         bool
	version      bool
	mountpoint   string
	procFS       string // hidden: fixture roots for tests
	sysFS        string
	cgroupPrefix string
	metricsAddr  string
	// snapshotTTL is --snapshot-ttl: how long a container's cgroup values
	// are shared by its readers; 0 reads them on every read.
	snapshotTTL time.Duration
	// fuseURing is --fuse-uring: auto, on or off (docs/fuse-uring.md).
	fuseURing fs.URingMode
}

type optSpec struct {
	short   byte
	long    string
	hasArg  bool
	hidden  bool
	help    string
	flag    func(o *options)
	withArg func(o *options, v string) error
}

var specs = []optSpec{
	{short: 'f', long: "foreground", help: "run in the foreground (always the case; accepted for lxcfs compatibility)",
		flag: func(o *options) { o.foreground = true }},
	{short: 'd', long: "debug", help: "log debug messages and every FUSE request",
		flag: func(o *options) { o.debug = true }},
	{short: 'l', long: "enable-loadavg", help: "per-container /proc/loadavg",
		flag: func(o *options) { o.loadavg = true }},
	{short: 'u', long: "disable-swap", help: "show no swap in meminfo and swaps",
		flag: func(o *options) { o.swapOff = true }},
	{long: "disable-zswap", help: "show Zswap and Zswapped as 0",
		flag: func(o *options) { o.zswapOff = true }},
	{long: "enable-cfs", help: "also limit the visible CPUs by the CFS quota (cpu.max)",
		flag: func(o *options) { o.cfs = true }},
	{long: "enable-psi-poll", help: "accept PSI trigger writes and poll on proc/pressure/*",
		flag: func(o *options) { o.psiPoll = true }},
	{long: "enable-pidfd", help: "accepted for lxcfs compatibility; pidfds are used when the kernel has them",
		flag: func(o *options) {}},
	{long: "disable-cgroup", help: "do not serve the cgroup/ tree",
		flag: func(o *options) { o.noCgroup = true }},
	// lxcfs 6.0 serves cgroup/ only with --enable-cgroup; units and hooks
	// written for it pass the flag. The tree is on by default here.
	{long: "enable-cgroup", help: "accepted for lxcfs 6 compatibility; the cgroup/ tree is served unless --disable-cgroup",
		flag: func(o *options) { o.enableCgroup = true }},
	{long: "metrics-addr", hasArg: true, help: "serve Prometheus metrics and /healthz on HOST:PORT (loopback) or unix:/path (default off)",
		withArg: func(o *options, v string) error { o.metricsAddr = v; return nil }},
	{long: "fuse-uring", hasArg: true, help: "FUSE over io_uring: auto (when the kernel offers it), on (fail if it cannot; as root, permits it for the mount), off (default auto)",
		withArg: func(o *options, v string) error {
			m, err := fs.ParseURingMode(v)
			o.fuseURing = m
			return err
		}},
	{long: "snapshot-ttl", hasArg: true, help: "share a container's cgroup values between its reads for this long; 0 reads them on every read (default 100ms)",
		withArg: func(o *options, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("--snapshot-ttl: %q is no duration of 0 or more (100ms, 0)", v)
			}
			o.snapshotTTL = d
			return nil
		}},
	{short: 'p', long: "pidfile", hasArg: true, help: "pid file, locked while running (default /run/lxcfs-go.pid)",
		withArg: func(o *options, v string) error { o.pidfile = v; return nil }},
	{long: "runtime-dir", hasArg: true, help: "runtime directory; the default pid file goes there (default /run)",
		withArg: func(o *options, v string) error { o.runtimeDir = v; return nil }},
	{short: 'o', hasArg: true, help: "comma-separated mount options (e.g. -o ro,noexec)",
		withArg: func(o *options, v string) error {
			o.fuseOpts = append(o.fuseOpts, strings.Split(v, ",")...)
			return nil
		}},
	{short: 's', help: "ignored (lxcfs legacy)", flag: func(o *options) {}},
	{short: 'v', long: "version", help: "print the version and exit",
		flag: func(o *options) { o.version = true }},
	{short: 'h', long: "help", help: "print this help and exit",
		flag: func(o *options) { o.help = true }},
	{long: "procfs", hasArg: true, hidden: true,
		withArg: func(o *options, v string) error { o.procFS = v; return nil }},
	{long: "sysfs", hasArg: true, hidden: true,
		withArg: func(o *options, v string) error { o.sysFS = v; return nil }},
	{long: "cgroup-prefix", hasArg: true, hidden: true,
		withArg: func(o *options, v string) error { o.cgroupPrefix = v; return nil }},
}

var errUsage = errors.New("usage")

func parseArgs(args []string) (*options, error) {
	o := &options{snapshotTTL: content.DefaultSnapshotTTL}
	var positional []string
	apply := func(s *optSpec, name string, next func() (string, bool)) error {
		if !s.hasArg {
			s.flag(o)
			return nil
		}
		v, ok := next()
		if !ok {
			return fmt.Errorf("option %s needs a value", name)
		}
		return s.withArg(o, v)
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			s := findLong(name)
			if s == nil {
				return nil, fmt.Errorf("unknown option --%s", name)
			}
			if hasVal && !s.hasArg {
				return nil, fmt.Errorf("option --%s takes no value", name)
			}
			next := func() (string, bool) {
				if hasVal {
					return val, true
				}
				if i+1 < len(args) {
					i++
					return args[i], true
				}
				return "", false
			}
			if err := apply(s, "--"+name, next); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				s := findShort(a[j])
				if s == nil {
					return nil, fmt.Errorf("unknown option -%c", a[j])
				}
				rest := a[j+1:]
				next := func() (string, bool) {
					if rest != "" {
						return rest, true
					}
					if i+1 < len(args) {
						i++
						return args[i], true
					}
					return "", false
				}
				if err := apply(s, "-"+string(a[j]), next); err != nil {
					return nil, err
				}
				if s.hasArg {
					break
				}
			}
		default:
			positional = append(positional, a)
		}
	}
	if o.help || o.version {
		return o, nil
	}
	if o.enableCgroup && o.noCgroup {
		return nil, fmt.Errorf("%w: --enable-cgroup and --disable-cgroup contradict each other", errUsage)
	}
	switch len(positional) {
	case 0:
		return nil, fmt.Errorf("%w: missing mountpoint", errUsage)
	case 1:
		o.mountpoint = positional[0]
	default:
		return nil, fmt.Errorf("%w: one mountpoint expected, got %q", errUsage, positional)
	}
	if o.pidfile == "" {
		dir := o.runtimeDir
		if dir == "" {
			dir = filepath.Dir(defaultPidfile)
		}
		o.pidfile = filepath.Join(dir, filepath.Base(defaultPidfile))
	}
	return o, nil
}

// defaultPidfile is the pidfile without -p or --runtime-dir.
const defaultPidfile = "/run/lxcfs-go.pid"

func findLong(name string) *optSpec {
	for i := range specs {
		if specs[i].long != "" && specs[i].long == name {
			return &specs[i]
		}
	}
	return nil
}

func findShort(c byte) *optSpec {
	for i := range specs {
		if specs[i].short == c {
			return &specs[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: lxcfs-go [options] MOUNTPOINT\n")
	fmt.Fprintf(w, "       lxcfs-go webhook [options]    (Kubernetes admission webhook; see webhook --help)\n")
	fmt.Fprintf(w, "       lxcfs-go oci-hook [options]   (OCI createRuntime hook; see oci-hook --help)\n")
	fmt.Fprintf(w, "       lxcfs-go check [--json]       (can lxcfs-go run here? exit 0 if so)\n")
	fmt.Fprintf(w, "       lxcfs-go show [--pid N] [--explain] FILE...  (what process N sees, without a mount)\n")
	fmt.Fprintf(w, "       lxcfs-go remount [-n] [MOUNTPOINT]  (heal containers' bind mounts of a dead instance)\n\n")
	fmt.Fprintf(w, "Serves container-aware /proc and /sys files on MOUNTPOINT (usually /var/lib/lxcfs).\n\nOptions:\n")
	for _, s := range specs {
		if s.hidden {
			continue
		}
		var name string
		switch {
		case s.short != 0 && s.long != "":
			name = fmt.Sprintf("-%c, --%s", s.short, s.long)
		case s.short != 0:
			name = fmt.Sprintf("-%c", s.short)
		default:
			name = "    --" + s.long
		}
		if s.hasArg {
			name += " ARG"
		}
		fmt.Fprintf(w, "  %-28s %s\n", name, s.help)
	}
}

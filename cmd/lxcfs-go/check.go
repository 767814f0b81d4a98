package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/lxcfs-go/lxcfs-go/diag"
)

// checkMain is `lxcfs-go check [--json]`: whether and how well the daemon
// can run here, as lxc-checkconfig does for LXC. The exit status is 0 when
// it can run, 1 when it cannot, 2 on a usage error. --procfs, --sysfs,
// --devfs and --cgroup-prefix (hidden) point it at a fixture host.
func checkMain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("lxcfs-go check", flag.ContinueOnError)
	fl.SetOutput(stderr)
	asJSON := fl.Bool("json", false, "print the report as JSON")
	timeout := fl.Duration("timeout", 2*time.Second, "how long to wait for a mounted instance to answer")
	opts := diag.Options{Euid: -1}
	fl.StringVar(&opts.ProcFS, "procfs", "/proc", "procfs root (tests)")
	fl.StringVar(&opts.SysFS, "sysfs", "/sys", "sysfs root (tests)")
	fl.StringVar(&opts.DevFS, "devfs", "/dev", "devtmpfs root (tests)")
	fl.StringVar(&opts.MountPrefix, "cgroup-prefix", "", "prefix of cgroup mount points (tests)")
	fl.IntVar(&opts.Euid, "euid", -1, "judge privileges as this uid (tests)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: lxcfs-go check [--json] [--timeout D]\n\n"+
			"Checks /dev/fuse, the cgroup layout, PSI, swap accounting, user namespaces,\n"+
			"the kernel features lxcfs-go uses and any mounted instance.\n"+
			"Exit status: 0 if lxcfs-go can run, 1 if not.\n")
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "lxcfs-go check: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	opts.Timeout = *timeout
	r := diag.Run(opts)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
	} else {
		r.WriteText(stdout)
	}
	if !r.CanRun {
		return 1
	}
	return 0
}

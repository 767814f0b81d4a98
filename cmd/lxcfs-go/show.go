package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// showMain is `lxcfs-go show [--pid N] [--explain] FILE...`: what process N
// (default: this command itself) would see in each file, rendered by the
// same content.Source the daemon uses, without a mount. --explain adds,
// per file, each field that differs from the host's and the cgroup files
// and limits it came from. --no-pidns uses N's own cgroups rather than the
// init of N's pid namespace; fixture hosts (--procfs, hidden) need it.
func showMain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("lxcfs-go show", flag.ContinueOnError)
	fl.SetOutput(stderr)
	pid := fl.Int("pid", 0, "the process whose view to show (default: this command)")
	explain := fl.Bool("explain", false, "say where each changed field comes from")
	noPidns := fl.Bool("no-pidns", false, "use the process's own cgroups, not its pid namespace's init")
	list := fl.Bool("list", false, "list the file names and exit")
	var ro proc.Options
	fl.BoolVar(&ro.SwapOff, "disable-swap", false, "as the daemon's -u")
	fl.BoolVar(&ro.SwapOff, "u", false, "as the daemon's -u")
	fl.BoolVar(&ro.ZswapOff, "disable-zswap", false, "as the daemon's --disable-zswap")
	fl.BoolVar(&ro.CFS, "enable-cfs", false, "as the daemon's --enable-cfs")
	var opts content.Options
	fl.StringVar(&opts.ProcFS, "procfs", "/proc", "procfs root (tests)")
	fl.StringVar(&opts.SysFS, "sysfs", "/sys", "sysfs root (tests)")
	fl.StringVar(&opts.MountPrefix, "cgroup-prefix", "", "prefix of cgroup mount points (tests)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: lxcfs-go show [--pid N] [--explain] [--no-pidns] [-u] [--enable-cfs] FILE...\n\n"+
			"Prints what process N would see in each FILE under an lxcfs-go mount\n"+
			"(meminfo, cpuinfo, stat, uptime, swaps, loadavg, online, ...; see --list).\n\n")
		fl.PrintDefaults()
	}
	// Flags may follow file names: parse, take one file, parse the rest.
	var files []string
	for {
		if err := fl.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fl.NArg() == 0 {
			break
		}
		files = append(files, fl.Arg(0))
		args = fl.Args()[1:]
	}
	if *list {
		for _, f := range content.Files() {
			fmt.Fprintf(stdout, "%-16s %s\n", f, f.MountPath())
		}
		return 0
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "lxcfs-go show: no file named (try --list)")
		return 2
	}
	var want []vfiles.File
	for _, name := range files {
		f, ok := content.ParseFile(name)
		if !ok {
			fmt.Fprintf(stderr, "lxcfs-go show: unknown file %q (try --list)\n", name)
			return 2
		}
		want = append(want, f)
	}
	if *pid == 0 {
		*pid = os.Getpid()
	}
	opts.Render = ro
	src, err := content.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "lxcfs-go show: %v\n", err)
		return 1
	}
	var c *content.Caller
	if *noPidns {
		c, err = src.ResolveOwn(*pid)
	} else {
		c, err = src.Resolve(*pid)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lxcfs-go show: pid %d: %v\n", *pid, err)
		return 1
	}
	code := 0
	for i, f := range want {
		if len(want) > 1 {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "==> %s <==\n", f.MountPath())
		}
		b, err := src.RenderFor(nil, f, c)
		if err != nil {
			fmt.Fprintf(stderr, "lxcfs-go show: %s: %v\n", f.MountPath(), err)
			code = 1
			continue
		}
		stdout.Write(b)
		if *explain {
			writeExplain(stdout, src, f, c, *pid, b)
		}
	}
	return code
}

func writeExplain(w io.Writer, src *content.Source, f vfiles.File, c *content.Caller, pid int, shown []byte) {
	ex, err := src.Explain(f, c, shown)
	if err != nil {
		fmt.Fprintf(w, "--- explain %s: %v\n", f.MountPath(), err)
		return
	}
	who := fmt.Sprintf("pid %d", pid)
	if c.Ref.PID != pid {
		who += fmt.Sprintf(", container init pid %d", c.Ref.PID)
	}
	fmt.Fprintf(w, "--- %s for %s, compared with the host's:\n", f.MountPath(), who)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range ex {
		if e.Field == "(unchanged)" {
			fmt.Fprintf(tw, "unchanged\t%s\n", e.From)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\thost %s\t= %s\n", e.Field, oneLine(e.Shown), oneLine(e.Host), e.From)
	}
	tw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

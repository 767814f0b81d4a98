package ocihook

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultDir is where the daemon is mounted unless told otherwise.
const DefaultDir = "/var/lib/lxcfs"

const usage = `Usage: lxcfs-go oci-hook [--lxcfs-dir DIR] [--log FILE] [-v]

An OCI runtime hook for the createRuntime (or prestart) stage: reads the
container's state on stdin and binds the files lxcfs-go serves at DIR into
the container. When the daemon is not mounted it says so and exits 0.

`

// Main runs the hook with args (those after "oci-hook") and returns the exit
// status: 0 when the files are bound or the daemon is not running, 1 when
// binding failed, 2 for bad usage.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("lxcfs-go oci-hook", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("lxcfs-dir", DefaultDir, "the daemon's mount `directory`")
	logPath := flags.String("log", "", "also append messages to `file` (runtimes drop a hook's output when it succeeds)")
	verbose := flags.Bool("v", false, "report every bind and every skipped file")
	flags.Usage = func() {
		fmt.Fprint(stderr, usage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "lxcfs-go oci-hook: unexpected argument %q\n", flags.Arg(0))
		return 2
	}

	out := stderr
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "lxcfs-go oci-hook: %v\n", err)
			return 1
		}
		defer f.Close()
		out = io.MultiWriter(stderr, f)
	}
	say := func(format string, a ...any) {
		fmt.Fprintf(out, "lxcfs-go oci-hook: "+format+"\n", a...)
	}
	if err := run(*dir, stdin, say, *verbose); err != nil {
		say("%v", err)
		return 1
	}
	return 0
}

func run(dir string, stdin io.Reader, say func(string, ...any), verbose bool) error {
	state, err := ParseState(stdin)
	if err != nil {
		return err
	}
	if state.PID == 1 {
		return errors.New("the state's pid is 1: the hook runs inside the container's pid namespace; " +
			"run it at createRuntime (or prestart), where the daemon's directory is reachable")
	}
	config, err := ReadConfig(state.Bundle)
	if err != nil {
		return err
	}
	name := state.ID
	if OptedOut(state, config) {
		if verbose {
			say("container %s: %s=false, leaving it alone", name, InjectAnnotation)
		}
		return nil
	}
	mountinfo, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	daemon, err := ReadDaemon(dir, mountinfo)
	mountinfo.Close()
	if errors.Is(err, ErrNotMounted) {
		say("container %s: %v: it keeps the host's /proc and /sys files", name, err)
		return nil
	}
	if err != nil {
		return err
	}
	rootfs, err := config.RootPath(state.Bundle)
	if err != nil {
		return fmt.Errorf("container %s: rootfs: %w", name, err)
	}
	root, err := rootInNamespace(state.PID, rootfs)
	if err != nil {
		return fmt.Errorf("container %s: %w", name, err)
	}
	results, err := Apply(state.PID, root, Plan(daemon))
	if verbose {
		for _, r := range results {
			if r.Skipped != "" {
				say("container %s: skipped %s: %s", name, r.Source, r.Skipped)
			} else {
				say("container %s: bound %s over /%s", name, r.Source, r.Target)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("container %s: %w", name, err)
	}
	return nil
}

// rootInNamespace says where the rootfs is in the container's mount
// namespace: at its host path before pivot_root, at "/" after.
func rootInNamespace(pid int, rootfs string) (string, error) {
	procRoot, err := os.Stat(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return "", fmt.Errorf("container init %d: %w", pid, err)
	}
	rootStat, err := os.Stat(rootfs)
	if err != nil {
		return "", err
	}
	if os.SameFile(procRoot, rootStat) {
		return "/", nil
	}
	return filepath.Clean(rootfs), nil
}

package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lxcfs-go/lxcfs-go/daemon"
)

// The fd holder's side of the command: its settings, what it needs to
// restart the daemon, and the fd-keeper subcommand. See docs/upgrade.md.

// restartEnv chooses who restarts a crashed daemon: "auto" (the default:
// the fd holder does, unless systemd runs us: it restarts the unit itself)
// or "never" (whoever started it; the holder only keeps the connection for
// its grace period).
const restartEnv = "LXCFS_GO_RESTART"

// holderGraceEnv sets how long the holder keeps a connection that no daemon
// serves (a Go duration; default 30s).
const holderGraceEnv = "LXCFS_GO_HOLDER_GRACE"

// restartSpec is what the fd holder needs to start this daemon again after
// a crash, or nil when the holder must not (see restartEnv).
func restartSpec() *daemon.Restart {
	// systemd and the kubelet (which runs an fd keeper's daemons)
	// restart the daemon themselves.
	underSystemd := os.Getenv("NOTIFY_SOCKET") != "" || os.Getenv("INVOCATION_ID") != ""
	if os.Getenv(restartEnv) == "never" || underSystemd || keeperMode() {
		return nil
	}
	dir, _ := os.Getwd()
	// Descriptors a predecessor or systemd passed this process are not
	// there for a restarted one.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, p := range []string{daemon.TakeoverEnv + "=", "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES="} {
			if strings.HasPrefix(kv, p) {
				return true
			}
		}
		return false
	})
	return &daemon.Restart{Exe: exePath, Args: os.Args[1:], Env: env, Dir: dir}
}

// holderOptions reads the holder's settings from the environment.
func holderOptions() daemon.HolderOptions {
	var o daemon.HolderOptions
	if d, err := time.ParseDuration(os.Getenv(holderGraceEnv)); err == nil && d > 0 {
		o.Grace = d
	}
	return o
}

// keeperGrace is the fd keeper's grace period unless told otherwise.
const keeperGrace = 5 * time.Minute

// keeperWait is how long a daemon in keeper mode waits for its keeper to
// answer: the two start together (two DaemonSets on a new node).
const keeperWait = time.Minute

// holderMain is "lxcfs-go fd-holder MOUNTPOINT", started by the daemon.
func holderMain(args []string, stdout, stderr io.Writer) int {
	return daemon.RunHolder(args, holderOptions(), stderr)
}

// keeperMain is "lxcfs-go fd-keeper [-p PIDFILE]": a holder that runs apart
// from the daemon and outlives it, for daemons started with
// LXCFS_GO_FD_HOLDER=keeper and the same pidfile (docs/kubernetes.md).
func keeperMain(args []string, stdout, stderr io.Writer) int {
	pidfile := defaultPidfile
	var grace time.Duration
	for len(args) > 0 {
		switch {
		case (args[0] == "-p" || args[0] == "--pidfile") && len(args) > 1:
			pidfile, args = args[1], args[2:]
		case strings.HasPrefix(args[0], "--pidfile="):
			pidfile, args = strings.TrimPrefix(args[0], "--pidfile="), args[1:]
		case args[0] == "--grace" && len(args) > 1:
			d, err := time.ParseDuration(args[1])
			if err != nil || d <= 0 {
				fmt.Fprintf(stderr, "lxcfs-go fd-keeper: --grace %q: want a duration such as 5m\n", args[1])
				return 2
			}
			grace, args = d, args[2:]
		case args[0] == "-h" || args[0] == "--help":
			fmt.Fprintln(stdout, "usage: lxcfs-go fd-keeper [-p PIDFILE] [--grace DURATION]\n\nKeeps the FUSE connection of the daemon started with the same pidfile and\nLXCFS_GO_FD_HOLDER=keeper, across that daemon's exits, until it ends or no\ndaemon has served it for the grace period (default 5m).")
			return 0
		default:
			fmt.Fprintf(stderr, "lxcfs-go fd-keeper: unexpected argument %q\n", args[0])
			return 2
		}
	}
	o := holderOptions()
	o.Keeper, o.Socket = true, daemon.HolderSocket(pidfile)
	// A replaced pod may take minutes to run again (an image pull, the
	// kubelet's crash back-off, which grows to 5 minutes): readers wait
	// that long rather than lose the connection for good.
	switch {
	case grace > 0:
		o.Grace = grace
	case o.Grace == 0:
		o.Grace = keeperGrace
	}
	return daemon.RunHolder(nil, o, stderr)
}

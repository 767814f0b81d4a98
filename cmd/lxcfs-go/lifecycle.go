package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/daemon"
	"github.com/lxcfs-go/lxcfs-go/upgrade"
)

// The daemon's life cycle is package daemon's (fresh mount, hand-over,
// resume after a crash; docs/upgrade.md). What is the command's: the
// settings it reads from the environment and the command line, which
// daemon.Options carry in, and the pid file (pidfile.go).

// holderEnv chooses who keeps the FUSE connection across a crash:
// "process" (the default: an "lxcfs-go fd-holder" process the daemon
// starts), "keeper" (an "lxcfs-go fd-keeper" that runs apart, started
// before the daemon: on Kubernetes, in a pod of its own; the daemon then
// leaves the connection with it when it stops, and never unmounts), or
// "none".
const holderEnv = "LXCFS_GO_FD_HOLDER"

// holderMode reads holderEnv.
func holderMode() daemon.HolderMode {
	switch os.Getenv(holderEnv) {
	case "keeper":
		return daemon.HolderKeeper
	case "none":
		return daemon.HolderNone
	}
	return daemon.HolderProcess
}

// keeperMode reports whether the connection is kept by an fd keeper.
func keeperMode() bool { return holderMode() == daemon.HolderKeeper }

// cloneEnv=1 serves on a clone of the connection's fd, as on kernels before
// 6.9, to compare the two arrangements (docs/upgrade.md).
const cloneEnv = "LXCFS_GO_SERVE_ON_CLONE"

// healEnv=1 makes a daemon that mounted afresh heal containers' bind mounts
// of its predecessors' dead connections, as "lxcfs-go remount" does.
const healEnv = "LXCFS_GO_REMOUNT_AT_START"

// exePath is the daemon binary as it was started (argv[0] made absolute).
// After an upgrade /proc/self/exe names the replaced, deleted file; the
// path names the binary now on disk, which is what SIGUSR1 starts.
var exePath = func() string {
	p := os.Args[0]
	if filepath.Base(p) == p {
		if lp, err := exec.LookPath(p); err == nil {
			p = lp
		}
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p
}()

// startGeneration serves the mount (daemon.Start) with the settings of the
// command line and the environment: taken over from a predecessor (tk),
// resumed after a crash, or freshly mounted.
func startGeneration(o *options, log *slog.Logger, newFS func(epoch uint16) daemon.FileSystem, tk *daemon.Takeover, sigs <-chan os.Signal) (*daemon.Generation, error) {
	nfds, names := systemdFDs()
	heal := os.Getenv(healEnv) == "1"
	gen, err := daemon.Start(daemon.Options{
		Mountpoint:    o.mountpoint,
		Pidfile:       o.pidfile,
		FUSEOptions:   o.fuseOpts,
		Debug:         o.debug,
		URing:         o.fuseURing,
		ServeOnClone:  os.Getenv(cloneEnv) == "1",
		Holder:        holderMode(),
		KeeperWait:    keeperWait,
		Restart:       restartSpec(),
		Exe:           exePath,
		Args:          os.Args[1:],
		Env:           os.Environ(),
		Notify:        notifier(),
		ListenFDs:     nfds,
		ListenFDNames: names,
		Takeover:      tk,
		NewFS:         newFS,
		Mounted: func(dev string) {
			if err := upgrade.RecordMount(o.pidfile, dev); err != nil {
				log.Warn("mount history", "err", err)
			}
			if heal {
				healContainers(o, log, dev)
			}
		},
		Interrupt: sigs,
		Logger:    log,
	})
	if errors.Is(err, daemon.ErrNoKeeper) {
		return nil, fmt.Errorf("no fd keeper answers on %s (%s=keeper): start \"lxcfs-go fd-keeper\" first",
			daemon.HolderSocket(o.pidfile), holderEnv)
	}
	return gen, err
}

// healContainers binds the files of the new mount (device dev) over the
// dead mounts of this instance's earlier connections in every mount
// namespace (upgrade.Remount).
func healContainers(o *options, log *slog.Logger, dev string) {
	devs, _ := upgrade.ReadMountHistory(o.pidfile)
	devs = slices.DeleteFunc(devs, func(d string) bool { return d == dev })
	if len(devs) == 0 {
		return
	}
	dead, err := upgrade.Remount(o.mountpoint, upgrade.Options{Devs: devs})
	for _, d := range dead {
		if d.Err != nil {
			log.Warn("remount", "pid", d.PID, "mountpoint", d.MountPoint, "file", d.Root, "err", d.Err)
		} else {
			log.Info("remount: healed", "pid", d.PID, "mountpoint", d.MountPoint, "file", d.Root)
		}
	}
	if err != nil {
		log.Warn("remount", "err", err)
	}
}

// acceptTakeover takes the connection over from the predecessor that
// started this process (SIGUSR1) with the hand-over socket's descriptor in
// the environment, and clears the variable so that this daemon's own
// successors do not inherit it. It returns nil, nil when there is none.
func acceptTakeover() (*daemon.Takeover, error) {
	v, ok := os.LookupEnv(daemon.TakeoverEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(daemon.TakeoverEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a descriptor", daemon.TakeoverEnv, v)
	}
	return daemon.AcceptTakeover(fd)
}

// notifier talks to systemd when it started us with Type=notify
// (NOTIFY_SOCKET); elsewhere it sends nothing.
func notifier() daemon.Notifier {
	return daemon.Notifier{Socket: os.Getenv("NOTIFY_SOCKET")}
}

// systemdFDs returns what systemd handed this process from its fd store:
// LISTEN_FDS descriptors from fd 3 on, named by LISTEN_FDNAMES, if
// LISTEN_PID is this process. It clears the variables then, so that no
// child inherits them.
func systemdFDs() (int, []string) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	if pid != os.Getpid() || n <= 0 {
		return 0, nil
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	return n, names
}

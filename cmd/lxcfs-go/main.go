// Command lxcfs-go serves container-aware /proc and /sys files over FUSE, as
// a drop-in for lxcfs. See the README for usage.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/lxcfs-go/lxcfs-go/cgrouptree"
	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/daemon"
	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/internal/timerslack"
	"github.com/lxcfs-go/lxcfs-go/proc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if sub, ok := subcommands[args[0]]; ok {
			return sub(args[1:], stdout, stderr)
		}
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "lxcfs-go: %v\n", err)
		if errors.Is(err, errUsage) {
			usage(stderr)
		}
		return 2
	}
	if o.help {
		usage(stdout)
		return 0
	}
	if o.version {
		fmt.Fprintf(stdout, "lxcfs-go %s\n", version)
		return 0
	}
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(o, logger); err != nil {
		logger.Error(err.Error())
		return 1
	}
	return 0
}

func serve(o *options, logger *slog.Logger) error {
	// A successor started by SIGUSR1 takes the connection over.
	tk, err := acceptTakeover()
	if err != nil {
		return err
	}
	pid, err := openPidfile(o.pidfile, tk)
	if err != nil {
		if tk != nil {
			tk.Fail(err)
		}
		return err
	}
	handedOver := false
	defer func() {
		if handedOver {
			pid.handOff()
		} else {
			pid.release()
		}
	}()

	met, err := startMetrics(o, logger)
	if err != nil {
		return err
	}
	defer met.close()
	src, err := content.New(content.Options{
		ProcFS:      o.procFS,
		SysFS:       o.sysFS,
		MountPrefix: o.cgroupPrefix,
		Render:      proc.Options{SwapOff: o.swapOff, ZswapOff: o.zswapOff, CFS: o.cfs},
		Logger:      logger,
		OnFallback:  met.onFallback(),
		Loadavg:     o.loadavg,
		PSIPoll:     o.psiPoll,
		SnapshotTTL: o.snapshotTTL,
	})
	if err != nil {
		return err
	}
	// Stops the loadavg sampler and closes the files it keeps open.
	defer src.Close()
	logger.Info("starting lxcfs-go", "version", version, "mountpoint", o.mountpoint,
		"cgroup_layout", src.View().Layout().Kind.String())

	sigs := make(chan os.Signal, 4)
	// Signals stay caught until the process exits, so that a SIGTERM that
	// arrives while we shut down cannot kill us halfway.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)

	var cgTree *cgrouptree.Tree
	if !o.noCgroup {
		cgTree, err = cgrouptree.New(cgrouptree.Options{
			Layout:       src.View().Layout(),
			MountPrefix:  o.cgroupPrefix,
			ProcFS:       o.procFS,
			Resolver:     src.View(),
			Virtualizing: src.Virtualizing,
			Logger:       logger,
		})
		if err != nil {
			return err
		}
		defer cgTree.Close()
	}
	newFS := func(epoch uint16) daemon.FileSystem {
		return fs.New(fs.Options{
			Content:     met.instrument(src),
			SysFS:       o.sysFS,
			Logger:      logger,
			HandleEpoch: epoch,
			Cgroup:      cgTree,
		})
	}
	gen, err := startGeneration(o, logger, newFS, tk, sigs)
	if err != nil {
		return err
	}
	if tr, _ := gen.Server().Transport(); tr == "classic" {
		if err := timerslack.Set(timerSlack); err != nil {
			logger.Warn("timer slack unchanged: the Go runtime wakes more often while idle", "err", err)
		}
	}
	met.ready(tk != nil)
	if tk != nil {
		if err := pid.writeOwn(); err != nil {
			logger.Warn(err.Error())
		}
	}
	gen.NotifyReady()

	for {
		select {
		case <-gen.Server().Ended():
			if err := gen.Server().Err(); err != nil {
				return fmt.Errorf("FUSE connection ended: %w", err)
			}
			logger.Info("unmounted from outside; exiting")
			gen.Leave()
			return nil
		case sig := <-sigs:
			switch sig {
			case syscall.SIGUSR2:
				on := !src.Virtualizing()
				src.SetVirtualization(on)
				if on {
					logger.Info("Switched into virtualization mode")
				} else {
					logger.Info("Switched into non-virtualization mode")
				}
			case syscall.SIGUSR1:
				logger.Info("SIGUSR1: handing the mount to the binary on disk", "exe", exePath)
				if err := gen.HandOver(pid.f); err != nil {
					met.upgraded(false)
					logger.Error("upgrade failed; still serving", "err", err)
					continue
				}
				handedOver = true
				logger.Info("handed over; exiting")
				return nil
			default:
				logger.Info("stopping", "signal", sig.String())
				return gen.Stop()
			}
		}
	}
}

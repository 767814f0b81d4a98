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
	"strings"
	"syscall"
	"time"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/fs"
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
	if err := notYet(o); err != nil {
		fmt.Fprintf(stderr, "lxcfs-go: %v\n", err)
		return 2
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

// notYet rejects options whose feature has not landed, rather than quietly
// serving host values where the user asked for a container's.
func notYet(o *options) error {
	switch {
	case o.loadavg:
		return errors.New("-l/--enable-loadavg: per-container load averages are not implemented yet; run without -l to serve the host's loadavg")
	case o.psiPoll:
		return errors.New("--enable-psi-poll: PSI trigger writes are not implemented yet; run without it")
	}
	return nil
}

func serve(o *options, logger *slog.Logger) error {
	pid, err := lockPidfile(o.pidfile)
	if err != nil {
		return err
	}
	defer pid.release()

	src, err := content.New(content.Options{
		ProcFS:      o.procFS,
		SysFS:       o.sysFS,
		MountPrefix: o.cgroupPrefix,
		Render:      proc.Options{SwapOff: o.swapOff, ZswapOff: o.zswapOff, CFS: o.cfs},
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	logger.Info("starting lxcfs-go", "version", version, "mountpoint", o.mountpoint,
		"cgroup_layout", src.View().Layout().Kind.String())

	sigs := make(chan os.Signal, 4)
	// Signals stay caught until the process exits, so that a SIGTERM that
	// arrives while we shut down cannot kill us halfway.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)

	filesystem := fs.New(fs.Options{
		Content:     src,
		SysFS:       o.sysFS,
		Logger:      logger,
		HandleEpoch: uint16(time.Now().UnixNano()),
	})
	srv, err := fs.Mount(o.mountpoint, filesystem, fs.ServerOptions{
		MountOptions: fs.MountOptions{Extra: o.fuseOpts},
		Debug:        o.debug,
		Logger:       logger,
	})
	if err != nil {
		return err
	}
	logger.Info("mounted", "mountpoint", o.mountpoint)
	sdNotify("READY=1\nMAINPID=" + fmt.Sprint(os.Getpid()))

	ended := make(chan error, 1)
	go func() { ended <- srv.Wait() }()
	for {
		select {
		case err := <-ended:
			if err != nil {
				return fmt.Errorf("FUSE connection ended: %w", err)
			}
			logger.Info("unmounted from outside; exiting")
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
				logger.Warn("SIGUSR1: in-place upgrade is not implemented yet; still serving")
			default:
				logger.Info("stopping", "signal", sig.String())
				sdNotify("STOPPING=1")
				if err := srv.Unmount(2 * time.Second); err != nil {
					return err
				}
				return nil
			}
		}
	}
}

// sdNotify sends a state line to systemd when it started us with
// Type=notify; elsewhere it does nothing.
func sdNotify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer syscall.Close(fd)
	syscall.Sendto(fd, []byte(state), 0, &syscall.SockaddrUnix{Name: addr})
}

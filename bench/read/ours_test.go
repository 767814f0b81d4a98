package read

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/daemon"
	"github.com/lxcfs-go/lxcfs-go/fs"
)

// runOurs serves lxcfs-go from this binary, built from the same content
// and fs packages as cmd/lxcfs-go, with a CPU profile of the whole run
// written to profile at SIGTERM (-bench.cpuprofile). It takes no daemon
// options but -l, which it ignores (load averages are the command's).
func runOurs(mnt, profile string, args []string) int {
	_ = slices.Contains(args, "-l")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, err := content.New(content.Options{Logger: logger, SnapshotTTL: content.DefaultSnapshotTTL})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := os.Create(profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	filesystem := fs.New(fs.Options{Content: src, Logger: logger, HandleEpoch: uint16(time.Now().UnixNano())})
	srv, err := daemon.Mount(mnt, filesystem, daemon.MountOptions{Server: fs.ServerOptions{Logger: logger}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	pprof.StopCPUProfile()
	f.Close()
	daemon.Unmount(mnt)
	srv.Settle(5 * time.Second)
	return 0
}

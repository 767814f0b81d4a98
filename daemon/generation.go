package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/lxcfs-go/lxcfs-go/daemon"
	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/upgrade"
)

// A daemon generation: how this process came to serve the mount (a fresh
// mount, a hand-over from its predecessor, or a crashed predecessor's
// connection kept by the fd holder), and how it ends (unmount, or hand-over
// to a successor). See docs/upgrade.md.

// holderEnv chooses who keeps the FUSE connection across a crash:
// "process" (the default: an "lxcfs-go fd-holder" process the daemon
// starts), "keeper" (an "lxcfs-go fd-keeper" that runs apart, started
// before the daemon: on Kubernetes, in a pod of its own; the daemon then
// leaves the connection with it when it stops, and never unmounts), or
// "none".
const holderEnv = "LXCFS_GO_FD_HOLDER"

// keeperMode reports whether the connection is kept by an fd keeper.
func keeperMode() bool { return os.Getenv(holderEnv) == "keeper" }

// cloneEnv=1 serves on a clone of the connection's fd, as on kernels before
// 6.9, to compare the two arrangements (docs/upgrade.md).
const cloneEnv = "LXCFS_GO_SERVE_ON_CLONE"

// healEnv=1 makes a daemon that mounted afresh heal containers' bind mounts
// of its predecessors' dead connections, as "lxcfs-go remount" does.
const healEnv = "LXCFS_GO_REMOUNT_AT_START"

// stateInterval is how often the node table is checked for growth and,
// if it grew, stored with the holder and the fd store. A node the kernel
// learnt less than this before a crash is unknown to the next daemon.
const stateInterval = 50 * time.Millisecond

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

type generation struct {
	o      *options
	log    *slog.Logger
	fs     *fs.FS
	srv    *fs.Server
	holder *daemon.HolderInfo
	attach *net.UnixConn // to the holder, open while we live
	// fdstore is our entry in systemd's fd store, if we made it (a
	// successor or a restarted daemon leaves the store as it is: the
	// holder keeps the node table then).
	fdstore *daemon.FDStore
	stopKS  chan struct{}
	// keeper: the holder is an fd keeper that outlives us (holderEnv).
	keeper bool
	// sigs delivers the signals serve catches; a stop signal that
	// arrives while we wait for the keeper ends the wait.
	sigs <-chan os.Signal
}

// openPidfile locks the pidfile, or adopts the locked one a predecessor
// passed on (the lock is on the open file description, so it never lapses).
func openPidfile(path string, tk *daemon.Takeover) (*pidfile, error) {
	if tk == nil {
		return lockPidfile(path)
	}
	if len(tk.Files) < 1 {
		return nil, errors.New("hand-over without the pidfile")
	}
	return adoptPidfile(path, tk.Files[0])
}

// startGeneration serves the mount: taken over from a predecessor (tk), or
// resumed from the fd holder after a crash, or freshly mounted.
func startGeneration(o *options, log *slog.Logger, newFS func(epoch uint16) *fs.FS, tk *daemon.Takeover, sigs <-chan os.Signal) (*generation, error) {
	g := &generation{o: o, log: log, stopKS: make(chan struct{}), keeper: keeperMode(), sigs: sigs}
	sopts := fs.ServerOptions{Debug: o.debug, Logger: log,
		ServeOnClone: os.Getenv(cloneEnv) == "1", URing: o.fuseURing}
	useHolder := os.Getenv(holderEnv) != "none"
	if o.fuseURing == "" || o.fuseURing == fs.URingAuto {
		if useHolder {
			// Measured on 6.18: the kernel cannot take back a ring
			// entry from a process that goes, nor resend a request a
			// ring took; a crash or an upgrade can leave a read
			// hanging for the connection's life (docs/fuse-uring.md).
			sopts.URing = fs.URingOff
			sopts.URingOffWhy = "rings cannot outlive the process that registered them, and crash survival is on (fd holder); --fuse-uring=on chooses rings anyway"
		}
	}
	switch {
	case tk != nil:
		g.fs = newFS(daemon.NextHandleEpoch(tk.HandleEpoch))
		srv, err := fs.Attach(o.mountpoint, tk.Conn, tk.Init, g.fs, sopts.ServeOnClone || !fs.KernelResends(tk.Init), sopts)
		if err != nil {
			tk.Fail(err)
			return nil, err
		}
		st, err := tk.Prepared()
		if err != nil {
			return nil, fmt.Errorf("hand-over from %d: %w", tk.PID, err)
		}
		if err := g.fs.ImportState(st); err != nil {
			tk.Fail(err)
			return nil, err
		}
		srv.Start()
		if len(tk.Files) >= 3 {
			g.fdstore = daemon.AdoptFDStore(tk.Files[1:3])
		}
		// Attached before the predecessor hears we serve: the holder
		// always has a daemon it knows to be alive, and never mistakes
		// the predecessor's exit for a crash to restart from.
		g.holder = tk.Holder
		g.attachHolder()
		if err := tk.Ready(); err != nil {
			// The predecessor went away; we serve on, alone.
			log.Warn("hand-over: telling the predecessor", "err", err)
		}
		g.srv = srv
		nodes, handles := 0, 0
		if st != nil {
			nodes, handles = len(st.Nodes), len(st.Handles)
		}
		log.Info("took over", "from", tk.PID, "mountpoint", o.mountpoint, "mount", tk.Mount.Dev,
			"nodes", nodes, "handles", handles, "shared_fd", srv.Shared())
		logTransport(log, srv)
	default:
		// After a crash the connection may be kept by the fd holder or
		// systemd's fd store; the holder is asked first.
		stored, err := daemon.FromFDStore(systemdFDs())
		if err != nil {
			log.Warn(err.Error())
		}
		var held *daemon.Held
		from := ""
		if useHolder {
			h := g.findHolder()
			if h == nil && g.keeper {
				if h, err = g.waitKeeper(keeperWait); err != nil {
					return nil, err
				}
			}
			switch {
			case h == nil && g.keeper:
				return nil, fmt.Errorf("no fd keeper answers on %s (%s=keeper): start \"lxcfs-go fd-keeper\" first",
					daemon.HolderSocket(o.pidfile), holderEnv)
			case h == nil:
			case g.keeper:
				g.holder, from = h, "fd keeper"
				if held, err = h.Get(); err != nil {
					log.Info("the fd keeper keeps no connection yet", "err", err)
					held = nil
				}
			default:
				if held, err = h.Get(); err != nil {
					log.Warn("fd holder: releasing it", "err", err)
					h.Release()
					held = nil
				} else {
					g.holder, from = h, "fd holder"
				}
			}
		}
		if held == nil && stored != nil {
			held, stored, from = stored, nil, "systemd fd store"
		}
		if stored != nil {
			// The holder had it too; keep the store's state current.
			stored.Conn.Close()
			g.fdstore = stored.FDStore
		}
		if held != nil {
			if err := g.resume(held, from, sopts, newFS); err != nil {
				return nil, err
			}
		}
		if g.srv == nil {
			if err := makeMountpoint(o.mountpoint); err != nil {
				return nil, err
			}
			g.fs = newFS(uint16(time.Now().UnixNano()) | 1)
			restore := permitURing(o, log)
			srv, err := daemon.Mount(o.mountpoint, g.fs, daemon.MountOptions{Extra: o.fuseOpts, Server: sopts})
			restore()
			if err != nil {
				return nil, err
			}
			g.srv = srv
			mid, _ := daemon.LookupMount(o.mountpoint)
			if err := upgrade.RecordMount(o.pidfile, mid.Dev); err != nil {
				log.Warn("mount history", "err", err)
			}
			log.Info("mounted", "mountpoint", o.mountpoint, "mount", mid.Dev,
				"kernel_resends", fs.KernelResends(srv.Init()), "shared_fd", srv.Shared())
			logTransport(log, srv)
			if g.fdstore, err = daemon.StoreInFDStore(notifier(), srv, g.fs); err != nil {
				log.Warn("systemd fd store", "err", err)
			}
			if os.Getenv(healEnv) == "1" {
				g.healContainers(mid.Dev)
			}
			if g.keeper {
				if err := g.holder.Keep(g.srv); err != nil {
					daemon.Unmount(g.srv.Dir())
					g.srv.Settle(2 * time.Second)
					return nil, fmt.Errorf("fd keeper: %w", err)
				}
				log.Info("the fd keeper keeps the new connection", "socket", g.holder.Socket)
			}
		}
		if useHolder && g.holder == nil {
			h, err := daemon.StartHolder(exePath, daemon.HolderSocket(o.pidfile), g.srv)
			if err != nil {
				log.Warn("no fd holder: a crash will break the mount", "err", err)
			} else {
				g.holder = h
				log.Info("fd holder started", "pid", h.PID, "socket", h.Socket)
			}
		}
	}
	if g.holder != nil {
		g.attachHolder()
		// The node table now, then whenever it grows.
		if err := g.holder.Put(g.fs.ExportState(false)); err != nil {
			log.Warn("fd holder: storing the node table", "err", err)
		}
		go g.holder.KeepState(g.fs, stateInterval, log, g.stopKS)
	}
	if g.fdstore != nil {
		go g.fdstore.KeepState(g.srv, g.fs, stateInterval, g.stopKS)
	}
	log.Info("serving", "mountpoint", o.mountpoint, "fd_holder", g.holder != nil, "fd_store", g.fdstore != nil)
	return g, nil
}

// attachHolder tells the holder that this process serves, once: the socket
// stays open for the life of the process, and its closing without a
// "leaving" first tells the holder we crashed.
func (g *generation) attachHolder() {
	if g.holder == nil || g.attach != nil {
		return
	}
	var err error
	if g.attach, err = g.holder.Attach(g.o.restart); err != nil {
		g.log.Warn("fd holder attach", "err", err)
	}
}

// leave tells the holder that this process exits on purpose: it is not to
// be restarted.
func (g *generation) leave() {
	if g.attach != nil {
		if err := daemon.Leave(g.attach); err != nil {
			g.log.Warn("fd holder: saying we leave", "err", err)
		}
	}
}

// makeMountpoint creates the mount point if it is missing, so that nothing
// else needs to (the systemd unit used to run "mkdir -p" before every
// start, which after a crash waited on the still-mounted, unserved FUSE
// mount for as long as nobody served it). Mountinfo is read first: a
// mounted mount point is never touched.
func makeMountpoint(dir string) error {
	if _, mounted := daemon.LookupMount(dir); mounted {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	}
	return nil
}

// healContainers binds the files of the new mount (device dev) over the
// dead mounts of this instance's earlier connections in every mount
// namespace (upgrade.Remount).
func (g *generation) healContainers(dev string) {
	devs, _ := upgrade.ReadMountHistory(g.o.pidfile)
	devs = slices.DeleteFunc(devs, func(d string) bool { return d == dev })
	if len(devs) == 0 {
		return
	}
	dead, err := upgrade.Remount(g.o.mountpoint, upgrade.Options{Devs: devs})
	for _, d := range dead {
		if d.Err != nil {
			g.log.Warn("remount", "pid", d.PID, "mountpoint", d.MountPoint, "file", d.Root, "err", d.Err)
		} else {
			g.log.Info("remount: healed", "pid", d.PID, "mountpoint", d.MountPoint, "file", d.Root)
		}
	}
	if err != nil {
		g.log.Warn("remount", "err", err)
	}
}

// waitKeeper waits up to timeout for the fd keeper to answer, as a daemon
// and its keeper may start together. A signal to stop ends the wait.
func (g *generation) waitKeeper(timeout time.Duration) (*daemon.HolderInfo, error) {
	g.log.Info("waiting for the fd keeper", "socket", daemon.HolderSocket(g.o.pidfile), "for", timeout)
	deadline := time.After(timeout)
	for {
		select {
		case sig := <-g.sigs:
			return nil, fmt.Errorf("%v while waiting for the fd keeper", sig)
		case <-deadline:
			return nil, nil
		case <-time.After(200 * time.Millisecond):
		}
		if h, err := daemon.ConnectHolder(daemon.HolderSocket(g.o.pidfile)); err == nil && h != nil {
			return h, nil
		}
	}
}

// findHolder finds the fd holder of this instance (by pidfile), if one
// runs.
func (g *generation) findHolder() *daemon.HolderInfo {
	h, err := daemon.ConnectHolder(daemon.HolderSocket(g.o.pidfile))
	if err != nil {
		g.log.Warn("fd holder", "err", err)
		return nil
	}
	return h
}

// resume serves the connection a crashed predecessor left with the fd
// holder or the fd store (from says which), if it is still the one mounted
// here; otherwise it lets it go and leaves g.srv nil.
func (g *generation) resume(held *daemon.Held, from string, sopts fs.ServerOptions, newFS func(uint16) *fs.FS) error {
	o, log := g.o, g.log
	mid, mounted := daemon.LookupMount(o.mountpoint)
	ended := daemon.ConnEnded(int(held.Conn.Fd()))
	if !mounted || mid.Dev != held.Mount.Dev || ended {
		log.Warn("the kept connection ended or is not mounted here any more; letting it go", "from", from,
			"mountpoint", o.mountpoint, "held", held.Mount.Dev, "mounted", mid.Dev, "ended", ended)
		held.Conn.Close()
		if g.holder != nil {
			g.holder.Release()
			if !g.keeper {
				g.holder = nil
			}
		}
		return nil
	}
	var epoch uint16
	if held.State != nil {
		epoch = held.State.HandleEpoch
	}
	g.fs = newFS(daemon.NextHandleEpoch(epoch))
	srv, err := fs.Attach(o.mountpoint, held.Conn, held.Init, g.fs, sopts.ServeOnClone || !fs.KernelResends(held.Init), sopts)
	if err != nil {
		held.Conn.Close()
		return fmt.Errorf("resume from the %s: %w", from, err)
	}
	if err := g.fs.ImportState(held.State); err != nil {
		log.Warn("kept state", "err", err)
	}
	srv.Start()
	resent := false
	if fs.KernelResends(held.Init) && srv.Shared() {
		// Requests the dead daemon had read and not answered are still
		// on the device that was kept: have the kernel queue them again.
		if err := srv.Resend(); err != nil {
			log.Warn("resend", "err", err)
		} else {
			resent = true
		}
	}
	g.srv = srv
	if held.FDStore != nil {
		g.fdstore = held.FDStore
	}
	nodes := 0
	if held.State != nil {
		nodes = len(held.State.Nodes)
	}
	log.Info("resumed the connection kept by the "+from, "mountpoint", o.mountpoint,
		"mount", mid.Dev, "nodes", nodes, "resent", resent, "shared_fd", srv.Shared())
	logTransport(log, srv)
	return nil
}

// upgrade hands the connection to the binary now on disk. On success the
// caller exits without unmounting; on failure this generation serves on.
func (g *generation) upgrade(pid *pidfile) error {
	close(g.stopKS)
	files := []*os.File{pid.f}
	if g.fdstore != nil {
		files = append(files, g.fdstore.Files()...)
	}
	succ, err := daemon.HandOver(g.srv, g.fs, daemon.HandOverOptions{
		Exe:    exePath,
		Args:   os.Args[1:],
		Env:    os.Environ(),
		Files:  files,
		Holder: g.holder,
		Logger: g.log,
	})
	if err != nil {
		g.stopKS = make(chan struct{})
		if g.holder != nil {
			go g.holder.KeepState(g.fs, stateInterval, g.log, g.stopKS)
		}
		if g.fdstore != nil {
			go g.fdstore.KeepState(g.srv, g.fs, stateInterval, g.stopKS)
		}
		return err
	}
	// Under systemd the successor is the service's main process now.
	notifier().Notify(fmt.Sprintf("MAINPID=%d", succ))
	g.leave()
	g.srv.Close()
	return nil
}

// stop ends serving on purpose: the holder lets go, and the mount goes.
func (g *generation) stop() error {
	close(g.stopKS)
	g.leave()
	if g.keeper {
		// The keeper keeps the connection for the next daemon (the
		// next pod): nothing is unmounted, no container notices.
		// Requests we have read are answered first; those we have not
		// wait in the kernel's queue for the next daemon. (On kernels
		// that resend, they would be resent anyway; on older ones,
		// serving on a clone, they would fail.)
		if err := g.srv.Drain(2 * time.Second); err != nil {
			g.log.Warn("draining before leaving", "err", err)
		}
		g.log.Info("leaving the connection with the fd keeper", "socket", g.holder.Socket)
		return nil
	}
	if g.holder != nil {
		if err := g.holder.Release(); err != nil {
			g.log.Warn("fd holder release", "err", err)
		}
	}
	daemon.RemoveFromFDStore(notifier())
	err := daemon.Unmount(g.srv.Dir())
	g.srv.Settle(2 * time.Second)
	return err
}

// logTransport says which transport serves and why.
func logTransport(log *slog.Logger, srv *fs.Server) {
	tr, why := srv.Transport()
	log.Info("FUSE transport: "+why, "transport", tr)
}

// permitURing: with --fuse-uring=on, as root, on a kernel whose
// enable_uring is N, sets it to Y for the mount alone and returns what puts
// the value found back (called once INIT is answered: a connection that
// opted in keeps its rings, and its successors may register theirs,
// whatever the parameter says later). auto never touches the parameter: it
// is the host's (docs/fuse-uring.md).
func permitURing(o *options, log *slog.Logger) func() {
	if o.fuseURing != fs.URingOn || os.Geteuid() != 0 || fs.URingAvailability() != "enable_uring is N" {
		return func() {}
	}
	old, err := fs.EnableURing()
	if err != nil {
		log.Warn("--fuse-uring=on: could not set enable_uring", "err", err)
		return func() {}
	}
	log.Info("--fuse-uring=on: enable_uring set to Y for the mount", "was", old)
	return func() {
		if err := fs.SetURingParam(old); err != nil {
			log.Warn("putting enable_uring back", "value", old, "err", err)
		}
	}
}

package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/lxcfs-go/lxcfs-go/fs"
)

// A daemon generation: how this process came to serve the mount (a fresh
// mount, a hand-over from its predecessor, or a crashed predecessor's
// connection kept by the fd holder, the fd keeper or systemd's fd store),
// and how it ends (unmount, or hand-over to a successor). See
// docs/upgrade.md.

// HolderMode says who keeps the FUSE connection across a crash.
type HolderMode int

const (
	// HolderProcess is an "lxcfs-go fd-holder" process the daemon starts
	// (the default).
	HolderProcess HolderMode = iota
	// HolderKeeper is an "lxcfs-go fd-keeper" that runs apart, started
	// before the daemon (on Kubernetes, in a pod of its own): the daemon
	// leaves the connection with it when it stops, and never unmounts.
	HolderKeeper
	// HolderNone keeps nothing but what systemd's fd store keeps.
	HolderNone
)

// ErrNoKeeper is Start's error when the daemon runs with HolderKeeper and
// no keeper answers within Options.KeeperWait.
var ErrNoKeeper = errors.New("no fd keeper answers")

// stateInterval is how often the node table is checked for growth and,
// if it grew, stored with the holder and the fd store. A node the kernel
// learnt less than this before a crash is unknown to the next daemon.
const stateInterval = 50 * time.Millisecond

// Options configure a generation. The command fills them from its flags
// and its environment; nothing in this package reads either.
type Options struct {
	// Mountpoint is where the filesystem is mounted.
	Mountpoint string
	// Pidfile names the instance: its fd holder or keeper listens on
	// HolderSocket(Pidfile).
	Pidfile string
	// FUSEOptions is lxcfs's -o list (MountOptions.Extra).
	FUSEOptions []string
	// Debug logs every FUSE request and reply.
	Debug bool
	// URing is --fuse-uring. Auto serves classic while a holder or keeper
	// keeps the connection: rings do not outlive the process that
	// registered them.
	URing fs.URingMode
	// ServeOnClone reads requests from a clone of the connection's fd
	// even where the kernel could resend a dead server's requests, as on
	// kernels before 6.9 (fs.ServerOptions).
	ServeOnClone bool
	// Holder says who keeps the connection across a crash; KeeperWait is
	// how long a daemon with HolderKeeper waits for its keeper to answer.
	Holder     HolderMode
	KeeperWait time.Duration
	// Restart is how the fd holder starts the daemon again after a
	// crash; nil when it must not (systemd or the kubelet restarts it).
	Restart *Restart
	// Exe is the daemon binary as it was started (argv[0] made absolute,
	// not /proc/self/exe, which after an upgrade names the deleted file):
	// it runs the fd holder, and with Args (argv[1:]) and Env (this
	// process's environment) the successor a hand-over starts.
	Exe  string
	Args []string
	Env  []string
	// Notify talks to systemd (NOTIFY_SOCKET). ListenFDs and
	// ListenFDNames are the descriptors systemd handed back from its fd
	// store (LISTEN_FDS, LISTEN_FDNAMES; 0 and nil when LISTEN_PID is not
	// this process).
	Notify        Notifier
	ListenFDs     int
	ListenFDNames []string
	// Takeover is the predecessor's offer when this process was started
	// to take the connection over (AcceptTakeover); nil otherwise.
	Takeover *Takeover
	// NewFS builds the node layer with the given handle epoch.
	NewFS func(epoch uint16) FileSystem
	// Mounted, if set, is called after a fresh mount with the new mount's
	// device number ("0:53"), before the connection goes to a keeper: the
	// command records it and heals containers' mounts of earlier
	// connections.
	Mounted func(dev string)
	// Interrupt ends the wait for a keeper: a signal to stop.
	Interrupt <-chan os.Signal
	Logger    *slog.Logger
}

// Generation is this process's time serving the mount.
type Generation struct {
	o     Options
	log   *slog.Logger
	fs    FileSystem
	srv   *fs.Server
	sopts fs.ServerOptions
	// holder is the fd holder or keeper, if any; attach the socket that
	// tells it this process serves, open while we live.
	holder *holderInfo
	attach *net.UnixConn
	// fdstore is our entry in systemd's fd store, if we made it (a
	// successor or a restarted daemon leaves the store as it is: the
	// holder keeps the node table then).
	fdstore *fdStore
	stopKS  chan struct{}
	// keeper: the holder is an fd keeper that outlives us.
	keeper bool
	// tookOver: this generation took the connection over from a
	// predecessor.
	tookOver bool
}

// Start serves the mount: taken over from a predecessor (Options.Takeover),
// or resumed from the fd holder, keeper or systemd's fd store after a
// crash, or freshly mounted. It returns once the mount is served, and the
// holder and fd store keep the node table from then on.
func Start(o Options) (*Generation, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Generation{o: o, log: o.Logger, stopKS: make(chan struct{}), keeper: o.Holder == HolderKeeper}
	g.sopts = serverOptions(o)
	var err error
	if o.Takeover != nil {
		err = g.takeOver(o.Takeover)
	} else {
		err = g.resumeOrMount()
	}
	if err != nil {
		return nil, err
	}
	if g.holder != nil {
		g.attachHolder()
		// The node table now, then whenever it grows.
		if err := g.holder.put(g.fs.ExportState(false)); err != nil {
			g.log.Warn("fd holder: storing the node table", "err", err)
		}
	}
	g.keepState()
	g.log.Info("serving", "mountpoint", o.Mountpoint, "fd_holder", g.holder != nil, "fd_store", g.fdstore != nil)
	return g, nil
}

// serverOptions are the server's settings. Measured on 6.18: the kernel
// cannot take back a ring entry from a process that goes, nor resend a
// request a ring took; a crash or an upgrade can leave a read hanging for
// the connection's life (docs/fuse-uring.md). So auto means classic while
// something keeps the connection across a crash.
func serverOptions(o Options) fs.ServerOptions {
	so := fs.ServerOptions{Debug: o.Debug, Logger: o.Logger, ServeOnClone: o.ServeOnClone, URing: o.URing}
	if o.URing == "" || o.URing == fs.URingAuto {
		keeper := ""
		switch {
		case o.Holder != HolderNone:
			keeper = "fd holder"
		case o.Notify.Enabled():
			keeper = "systemd's fd store"
		}
		if keeper != "" {
			so.URing = fs.URingOff
			so.URingOffWhy = "rings cannot outlive the process that registered them, and crash survival is on (" + keeper + "); --fuse-uring=on chooses rings anyway"
		}
	}
	return so
}

// clone reports whether to serve a kept connection on a clone of its fd
// (fs.Server): asked for, or the kernel that sent init cannot resend.
func (g *Generation) clone(init []byte) bool {
	return g.sopts.ServeOnClone || !fs.KernelResends(init)
}

// takeOver serves the connection the predecessor offers (SIGUSR1).
func (g *Generation) takeOver(tk *Takeover) error {
	o, log := g.o, g.log
	g.tookOver = true
	g.fs = o.NewFS(nextHandleEpoch(tk.handleEpoch))
	srv, err := fs.Attach(o.Mountpoint, tk.conn, tk.init, g.fs, g.clone(tk.init), g.sopts)
	if err != nil {
		tk.Fail(err)
		return err
	}
	st, err := tk.prepared()
	if err != nil {
		return fmt.Errorf("hand-over from %d: %w", tk.pid, err)
	}
	if err := g.fs.ImportState(st); err != nil {
		tk.Fail(err)
		return err
	}
	srv.Start()
	if len(tk.stateFiles) == 2 {
		g.fdstore = adoptFDStore(tk.stateFiles)
	}
	// Attached before the predecessor hears we serve: the holder
	// always has a daemon it knows to be alive, and never mistakes
	// the predecessor's exit for a crash to restart from.
	g.holder = tk.holder
	g.attachHolder()
	if err := tk.ready(); err != nil {
		// The predecessor went away; we serve on, alone.
		log.Warn("hand-over: telling the predecessor", "err", err)
	}
	g.srv = srv
	nodes, handles := 0, 0
	if st != nil {
		nodes, handles = len(st.Nodes), len(st.Handles)
	}
	log.Info("took over", "from", tk.pid, "mountpoint", o.Mountpoint, "mount", tk.mount.Dev,
		"nodes", nodes, "handles", handles, "shared_fd", srv.Shared())
	logTransport(log, srv)
	return nil
}

// resumeOrMount serves the connection a crashed predecessor left, if one
// was kept and is still the one mounted here, and mounts afresh otherwise;
// then, unless something keeps the connection already, starts the holder.
func (g *Generation) resumeOrMount() error {
	kept, from, err := g.findKept()
	if err != nil {
		return err
	}
	if kept != nil {
		if err := g.resume(kept, from); err != nil {
			return err
		}
	}
	if g.srv == nil {
		if err := g.mountFresh(); err != nil {
			return err
		}
	}
	if g.o.Holder != HolderNone && g.holder == nil {
		h, err := startHolder(g.o.Exe, HolderSocket(g.o.Pidfile), g.srv)
		if err != nil {
			g.log.Warn("no fd holder: a crash will break the mount", "err", err)
		} else {
			g.holder = h
			g.log.Info("fd holder started", "pid", h.PID, "socket", h.Socket)
		}
	}
	return nil
}

// findKept finds the connection a crashed predecessor left with the fd
// holder or keeper (asked first) or systemd's fd store; from names which,
// for the log. It sets g.holder to a holder that keeps the connection, and
// to a keeper in any case.
func (g *Generation) findKept() (kept *keptConn, from string, err error) {
	stored, err := fromFDStore(g.o.ListenFDs, g.o.ListenFDNames)
	if err != nil {
		g.log.Warn(err.Error())
	}
	if g.o.Holder != HolderNone {
		if kept, from, err = g.fromHolder(); err != nil {
			return nil, "", err
		}
	}
	if kept == nil && stored != nil {
		kept, stored, from = stored, nil, "systemd fd store"
	}
	if stored != nil {
		// The holder had it too; keep the store's state current.
		stored.conn.Close()
		g.fdstore = stored.fdstore
	}
	return kept, from, nil
}

// fromHolder gets the connection from this instance's fd holder or keeper,
// waiting for a keeper that does not answer yet.
func (g *Generation) fromHolder() (*keptConn, string, error) {
	h := g.findHolder()
	var err error
	if h == nil && g.keeper {
		if h, err = g.waitKeeper(g.o.KeeperWait); err != nil {
			return nil, "", err
		}
	}
	var kept *keptConn
	switch {
	case h == nil && g.keeper:
		return nil, "", fmt.Errorf("%w on %s", ErrNoKeeper, HolderSocket(g.o.Pidfile))
	case h == nil:
		return nil, "", nil
	case g.keeper:
		g.holder = h
		if kept, err = h.get(); err != nil {
			g.log.Info("the fd keeper keeps no connection yet", "err", err)
			return nil, "", nil
		}
		return kept, "fd keeper", nil
	default:
		if kept, err = h.get(); err != nil {
			g.log.Warn("fd holder: releasing it", "err", err)
			h.release()
			return nil, "", nil
		}
		g.holder = h
		return kept, "fd holder", nil
	}
}

// findHolder finds the fd holder of this instance (by pidfile), if one
// runs.
func (g *Generation) findHolder() *holderInfo {
	h, err := connectHolder(HolderSocket(g.o.Pidfile))
	if err != nil {
		g.log.Warn("fd holder", "err", err)
		return nil
	}
	return h
}

// waitKeeper waits up to timeout for the fd keeper to answer, as a daemon
// and its keeper may start together. A signal to stop ends the wait.
func (g *Generation) waitKeeper(timeout time.Duration) (*holderInfo, error) {
	g.log.Info("waiting for the fd keeper", "socket", HolderSocket(g.o.Pidfile), "for", timeout)
	deadline := time.After(timeout)
	for {
		select {
		case sig := <-g.o.Interrupt:
			return nil, fmt.Errorf("%v while waiting for the fd keeper", sig)
		case <-deadline:
			return nil, nil
		case <-time.After(200 * time.Millisecond):
		}
		if h, err := connectHolder(HolderSocket(g.o.Pidfile)); err == nil && h != nil {
			return h, nil
		}
	}
}

// resume serves the connection a crashed predecessor left with the fd
// holder or the fd store (from says which), if it is still the one mounted
// here; otherwise it lets it go and leaves g.srv nil.
func (g *Generation) resume(kept *keptConn, from string) error {
	o, log := g.o, g.log
	mid, mounted := LookupMount(o.Mountpoint)
	ended := connEnded(int(kept.conn.Fd()))
	if !mounted || mid.Dev != kept.mount.Dev || ended {
		log.Warn("the kept connection ended or is not mounted here any more; letting it go", "from", from,
			"mountpoint", o.Mountpoint, "held", kept.mount.Dev, "mounted", mid.Dev, "ended", ended)
		kept.conn.Close()
		if g.holder != nil {
			g.holder.release()
			if !g.keeper {
				g.holder = nil
			}
		}
		return nil
	}
	var epoch uint16
	if kept.state != nil {
		epoch = kept.state.HandleEpoch
	}
	g.fs = o.NewFS(nextHandleEpoch(epoch))
	srv, err := fs.Attach(o.Mountpoint, kept.conn, kept.init, g.fs, g.clone(kept.init), g.sopts)
	if err != nil {
		kept.conn.Close()
		return fmt.Errorf("resume from the %s: %w", from, err)
	}
	if err := g.fs.ImportState(kept.state); err != nil {
		log.Warn("kept state", "err", err)
	}
	srv.Start()
	resent := false
	if fs.KernelResends(kept.init) && srv.Shared() {
		// Requests the dead daemon had read and not answered are still
		// on the device that was kept: have the kernel queue them again.
		if err := srv.Resend(); err != nil {
			log.Warn("resend", "err", err)
		} else {
			resent = true
		}
	}
	g.srv = srv
	if kept.fdstore != nil {
		g.fdstore = kept.fdstore
	}
	nodes := 0
	if kept.state != nil {
		nodes = len(kept.state.Nodes)
	}
	log.Info("resumed the connection kept by the "+from, "mountpoint", o.Mountpoint,
		"mount", mid.Dev, "nodes", nodes, "resent", resent, "shared_fd", srv.Shared())
	logTransport(log, srv)
	return nil
}

// mountFresh mounts afresh, puts the connection in systemd's fd store and
// gives it to the keeper.
func (g *Generation) mountFresh() error {
	o, log := g.o, g.log
	if err := makeMountpoint(o.Mountpoint); err != nil {
		return err
	}
	g.fs = o.NewFS(uint16(time.Now().UnixNano()) | 1)
	restore := permitURing(o.URing, log)
	srv, err := Mount(o.Mountpoint, g.fs, MountOptions{Extra: o.FUSEOptions, Server: g.sopts})
	restore()
	if err != nil {
		return err
	}
	g.srv = srv
	mid, _ := LookupMount(o.Mountpoint)
	log.Info("mounted", "mountpoint", o.Mountpoint, "mount", mid.Dev,
		"kernel_resends", fs.KernelResends(srv.Init()), "shared_fd", srv.Shared())
	logTransport(log, srv)
	if g.fdstore, err = storeInFDStore(o.Notify, srv, g.fs); err != nil {
		log.Warn("systemd fd store", "err", err)
	}
	if o.Mounted != nil {
		o.Mounted(mid.Dev)
	}
	if g.keeper {
		if err := g.holder.keep(g.srv); err != nil {
			unmountServer(g.srv, 2*time.Second)
			return fmt.Errorf("fd keeper: %w", err)
		}
		log.Info("the fd keeper keeps the new connection", "socket", g.holder.Socket)
	}
	return nil
}

// makeMountpoint creates the mount point if it is missing, so that nothing
// else needs to (the systemd unit used to run "mkdir -p" before every
// start, which after a crash waited on the still-mounted, unserved FUSE
// mount for as long as nobody served it). Mountinfo is read first: a
// mounted mount point is never touched.
func makeMountpoint(dir string) error {
	if _, mounted := LookupMount(dir); mounted {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	}
	return nil
}

// keepState has the holder and the fd store store the node table whenever
// it changes, until stopKS is closed.
func (g *Generation) keepState() {
	if g.holder != nil {
		go g.holder.keepState(g.fs, stateInterval, g.log, g.stopKS)
	}
	if g.fdstore != nil {
		go g.fdstore.keepState(g.srv, g.fs, stateInterval, g.stopKS)
	}
}

// attachHolder tells the holder that this process serves, once: the socket
// stays open for the life of the process, and its closing without a
// "leaving" first tells the holder we crashed.
func (g *Generation) attachHolder() {
	if g.holder == nil || g.attach != nil {
		return
	}
	var err error
	if g.attach, err = g.holder.attachDaemon(g.o.Restart); err != nil {
		g.log.Warn("fd holder attach", "err", err)
	}
}

// Server is the server of the connection: its end (Ended, Err) is the
// generation's.
func (g *Generation) Server() *fs.Server { return g.srv }

// NotifyReady tells systemd (Type=notify) that the service is up, with this
// process as its main one. A generation that took over says nothing: its
// predecessor tells systemd (MAINPID=) once it serves, and a notification
// from us before that would be refused.
func (g *Generation) NotifyReady() {
	if !g.tookOver {
		g.o.Notify.Notify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()))
	}
}

// Leave tells the holder that this process exits on purpose: it is not to
// be restarted.
func (g *Generation) Leave() {
	if g.attach != nil {
		if err := sayLeaving(g.attach); err != nil {
			g.log.Warn("fd holder: saying we leave", "err", err)
		}
	}
}

// HandOver hands the connection to the binary now on disk (SIGUSR1), with
// pidfile, the locked pid file, for the successor to keep (Takeover.Pidfile).
// On success the caller exits without unmounting; on failure this
// generation serves on.
func (g *Generation) HandOver(pidfile *os.File) error {
	close(g.stopKS)
	files := []*os.File{pidfile}
	if g.fdstore != nil {
		files = append(files, g.fdstore.files()...)
	}
	succ, err := handOver(g.srv, g.fs, handOverOptions{
		Exe:    g.o.Exe,
		Args:   g.o.Args,
		Env:    g.o.Env,
		Files:  files,
		Holder: g.holder,
		Logger: g.log,
	})
	if err != nil {
		g.stopKS = make(chan struct{})
		g.keepState()
		return err
	}
	// Under systemd the successor is the service's main process now.
	g.o.Notify.Notify(fmt.Sprintf("MAINPID=%d", succ))
	g.Leave()
	g.srv.Close()
	return nil
}

// Stop ends serving on purpose: the holder lets go, and the mount goes.
func (g *Generation) Stop() error {
	g.o.Notify.Notify("STOPPING=1")
	close(g.stopKS)
	g.Leave()
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
		if err := g.holder.release(); err != nil {
			g.log.Warn("fd holder release", "err", err)
		}
	}
	removeFromFDStore(g.o.Notify)
	return unmountServer(g.srv, 2*time.Second)
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
func permitURing(mode fs.URingMode, log *slog.Logger) func() {
	if mode != fs.URingOn || os.Geteuid() != 0 || fs.URingAvailability() != "enable_uring is N" {
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

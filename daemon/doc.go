// Package daemon is the life cycle of lxcfs-go's daemon: how a process
// comes to serve the FUSE connection, how the connection outlives the
// process, and how it passes to the next one. It sits above package fs the
// way go-fuse's fs sits above its fuse: fs is the node tree, the handles and
// the loop that serves a /dev/fuse fd it is given; this package decides
// where that fd comes from and where it goes. fs never imports it.
//
// # What it owns
//
//   - A generation (generation.go): Start serves the mount, by taking it
//     over from a predecessor (SIGUSR1), by resuming a crashed
//     predecessor's connection from the fd holder, the fd keeper or
//     systemd's fd store, or by mounting afresh; Generation.HandOver and
//     Generation.Stop end it.
//   - Mounting (mount.go): mount(2) on a new /dev/fuse fd, the lxcfs -o
//     options, the mount point's checks (a stale FUSE mount of a dead
//     daemon is detached), unmounting, and the mount's identity in
//     mountinfo (LookupMount) by which a kept connection is recognised.
//     The server only needs the fd (fs.Serve); where the mount is, whether
//     the one there is ours and alive, is the life cycle's business.
//   - The hand-over (handover.go, handover_wire.go): the successor is
//     started with a socket, gets the fd, the INIT request and the node
//     table, and serves; between the predecessor's drain and the
//     successor's first read no request fails.
//   - The fd holder and keeper (holder.go, the daemons' side;
//     holder_process.go, the process): a process that keeps a copy of the
//     fd, the INIT request and the node table across a crash, restarts a
//     daemon that died (supervision), and lets the connection go when no
//     daemon has served it for its grace period.
//   - systemd's fd store (fdstore.go) and sd_notify (sdnotify.go: Notifier,
//     the one implementation, with descriptors).
//
// # What it needs of fs
//
// Of the node layer, FileSystem: the handle epoch, the node table's export
// and import (fs.State) and its change notices. Of the server, *fs.Server:
// Serve (a fresh mount's INIT) and Attach (a kept connection's INIT
// replayed), the connection's fd (Conn) and INIT request (Init), Start,
// Drain, Resend, Settle, Close, and whether the kernel resends
// (fs.KernelResends).
//
// # What it does not do
//
// It reads no environment variable and no flag: the command
// (cmd/lxcfs-go) reads them and passes Options (the hand-over socket's
// descriptor, LISTEN_FDS, NOTIFY_SOCKET, LXCFS_GO_* settings). The pid file,
// the mount history and healing containers' mounts (package upgrade) are
// the command's too; Options.Mounted tells it of a fresh mount.
//
// docs/upgrade.md says what survives what; docs/architecture.md where this
// package stands among the others.
package daemon

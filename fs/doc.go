// Package fs is the FUSE side of lxcfs-go: the node tree (proc files, the
// mirrored sys cpu directory), file handles, and the loop that serves
// /dev/fuse.
//
// # Layers
//
// FS implements go-fuse's raw fuse.RawFileSystem, not its fs package: the
// kernel keeps the node IDs of bind-mounted files for a container's whole
// life, and a successor daemon must answer for them, so IDs, generations and
// file handles are given out deterministically here (tree.go). Server
// serves a /dev/fuse fd it is given, freshly mounted (Serve) or kept from an
// earlier daemon (Attach), with its own reader loop around
// fuse.ProtocolServer, keeping the raw INIT request. It never mounts: where
// the fd comes from and where it goes is package daemon's, which sits above
// this one as go-fuse's fs sits above its fuse.
//
// With FUSE over io_uring (ring.go, docs/fuse-uring.md) requests come from
// per-CPU rings served by pinned threads instead, through the same
// ProtocolServer; one classic reader stays for FORGET and INTERRUPT.
//
// Static nodes live forever; dynamic ones (sys cpu mirror, cgroup/ tree)
// count the kernel's lookups and leave the node table when FORGET (or
// BATCH_FORGET) takes the count to 0, so that container churn does not grow
// the table. Nodes imported without a trustworthy count are pinned.
//
// # Reads
//
// Open returns FOPEN_DIRECT_IO|FOPEN_NOFLUSH and a handle. A read at offset
// 0 (or the first read) renders the file for the reading thread's container
// into the handle's buffer; reads at other offsets slice it; reads past the
// end return 0 bytes. A per-handle mutex serializes reads on one handle,
// since the kernel may send them in parallel. st_size is 0, as in procfs.
//
// # Caching
//
// Names and attributes that are the same for every caller carry a 0.5 s
// TTL. The kernel's dentry cache is per mount, not per caller, so names whose
// existence depends on the caller (cpuN directories) have TTL 0 and lookups
// that fail are not cached.
//
// # Errors
//
// errno.go maps errors to statuses in one place. The proc and sys files are
// read-only: writes, truncation and opens for writing fail with EACCES,
// changes to the tree's shape with EPERM, and no write reaches the host. Two
// exceptions: PSI trigger writes to proc/pressure/* under --enable-psi-poll
// (poll.go), and the cgroup/ tree (cgroup.go), where writes, mkdir, rmdir,
// chmod and chown pass through exactly when the caller could do them on the
// real cgroupfs.
//
// # Hand-over
//
// state.go exports and imports the dynamic node table and open handles
// (FS.ExportState, FS.ImportState); the Server drains its readers (Drain),
// serves again (Start), and has the kernel resend what a dead reader took
// (Resend). Package daemon passes the table, the fd (Server.Conn) and the
// INIT request (Server.Init) to a successor, and keeps them across a
// crash.
package fs

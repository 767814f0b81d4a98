// Package ocihook is the OCI runtime hook that binds lxcfs-go's files into a
// container started by runc, crun, podman or CRI-O (`lxcfs-go oci-hook`).
//
// # When it runs
//
// The runtime runs it at createRuntime (or the older prestart, at the same
// moment under runc), with the container's state JSON on stdin: its init is
// created and stopped before pivot_root, its mounts are in place. The hook
// reads the bundle's config.json for the rootfs path and annotations, clones
// each file of the daemon's directory as a detached mount (open_tree), enters
// the init's mount namespace on one locked thread, and attaches the clones
// there (move_mount). Targets are opened beneath the rootfs with no symlink
// followed, so an image cannot redirect a mount elsewhere.
//
// It refuses a state whose pid is 1: that is the container's own pid
// namespace (createContainer, startContainer), where the daemon's directory
// cannot be reached.
//
// # What it binds
//
//   - proc/<file> over the container's /proc/<file>, read-only, except
//     proc/pressure (opt-in in the vfiles table): runc allows only a fixed list of bind mounts under /proc
//     (cpuinfo, diskstats, meminfo, stat, swaps, uptime, loadavg, slabinfo,
//     ...) and refuses /proc/pressure/*, so the hook keeps the container's
//     /proc what runc itself would accept;
//   - sys/devices/system/cpu over the container's, read-only (each entry
//     instead when the daemon serves only some of them);
//   - the whole directory over /var/lib/lxcfs when the image has that
//     directory (nesting).
//
// A target that the rootfs lacks is skipped, and so is one that is already a
// mount point (the config.json mounts or `docker -v` already bound it).
//
// # When it does nothing
//
// The annotation lxcfs-go.io/inject=false (in config.json or the state)
// opts a container out. When the daemon is not mounted at its directory, or
// its mount does not answer, the hook says so on stderr and exits 0, so the
// container starts with the host's files.
//
// It needs Linux 5.12 (open_tree, move_mount, mount_setattr, openat2); on
// older kernels use the config.json mounts of docs/oci.md.
package ocihook

// Package cgrouptree decides and performs everything behind the cgroup/ tree
// of the mount: a cgroupfs view in which a container without a cgroup
// namespace sees only its own subtree (docs/differences.md, "Files").
//
// # Whose view
//
// The caller's container cgroup C in a hierarchy is the cgroup of the
// init of the caller's pid namespace (hostcgroup.ContainerInit), or of the
// caller itself in the daemon's namespace, with /init.scope removed. A
// directory path P is Inside when it is C or below it, an Ancestor when it
// is above C (it then shows only the next step towards C), and Hidden
// otherwise. Files are visible only in Inside directories. Ancestry is by
// path components (Classify), never by string prefix.
//
// # Permissions
//
// The daemon is root, so the kernel checks nothing on a caller's behalf.
// Every decision (MayAccess, MayChmod, MayChown, MayMoveV1) follows the
// kernel's generic_permission and cgroup rules for the caller's uid, gid
// and supplementary groups, on the attributes of the object actually
// opened (fstat of our fd), never of a path looked up earlier. A caller
// that is uid 0 in its user namespace and holds the capability there acts
// on files whose owner and group are mapped in that namespace, as
// capable_wrt_inode_uidgid does.
//
// # No way out
//
// Each hierarchy root is held as an O_PATH directory fd. Every path is
// opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
// RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV) relative to it, and every change
// (mkdir, rmdir, chmod, chown, write) acts on a single validated name
// relative to an fd opened that way. After the open, the caller's cgroup
// is read again and the reference process's start time checked: a cgroup
// renamed or a reference process replaced in between fails the request
// (ESTALE) instead of acting on another cgroup.
//
// # Pids
//
// tasks, cgroup.procs and cgroup.threads are read with each pid translated
// into the reader's pid namespace and pids it cannot see left out (lxcfs
// prints 0 for them). Pids written are translated from the writer's pid
// namespace; "0" means the writer itself. The translation uses the nsfs
// ioctls NS_GET_{PID,TGID}_{IN,FROM}_PIDNS (Linux 6.11+) and NSpid plus
// NS_GET_PARENT before that.
package cgrouptree

// Package diag checks whether lxcfs-go can run on a host and how well, as
// lxc-checkconfig does for LXC: /dev/fuse, the cgroup layout and which
// hierarchy serves each controller, PSI, swap accounting, user namespaces,
// the kernel features the daemon relies on, and any mounted instance and
// its health. `lxcfs-go check` prints its Report.
//
// Every path is below a root passed in Options, so tests run the checks on
// the fixture hosts of hostcgroup/testdata. Probes that need the live
// kernel (an ioctl, pidfd_open, opening /dev/fuse) run only when ProcFS is
// the real /proc; elsewhere the kernel release decides.
package diag

// Package proc renders the files a container reads in place of the host's:
// /proc/meminfo, swaps, cpuinfo, stat, uptime, slabinfo, loadavg, diskstats
// and pressure/{cpu,io,memory}, and the CPU list of
// /sys/devices/system/cpu/{online,present,possible}.
//
// # What it owns
//
// The step from values to bytes, and nothing else. Reading host files, cgroup
// files and the caller's identity happens before (package hostcgroup and the
// daemon's content layer); serving the bytes happens after (package fs). The
// inputs are the host's own file, a version-neutral hostcgroup value (v1 and
// v2 file names never appear here) and Options; the contract types are in
// api.go.
//
// # Rules every renderer keeps
//
//   - Pure: no files, no clock, no globals, no logging. The same inputs give
//     the same bytes, so each file has golden tests (testdata/golden, rewritten
//     with go test -update) and invariant tests.
//   - Append: each renderer appends to dst and returns it. dst may be a reused
//     buffer (buf[:0]); with enough capacity a renderer allocates nothing
//     (NewCPUView, which builds the CPU list, is the exception).
//   - The host file is the template: a renderer starts from the host's bytes
//     and changes only what the container changes. Lines keep their order,
//     unknown lines survive, and with no limit a file equals the host's where
//     the formulas allow (cpuinfo, stat, online, swaps; meminfo keeps MemTotal
//     but shows the container's usage).
//   - Missing input means the host's value: a nil *hostcgroup.Memory gives
//     the host's meminfo and swaps, a nil CPU the host's online CPUs, a nil
//     usage the host's CPU times.
//   - Host input is never trusted: lengths are checked, numbers are parsed
//     without overflow, sums saturate, and a line a renderer cannot parse is
//     copied through. A renderer never panics (fuzz targets check it).
//
// # Differences from lxcfs 5.0.3
//
// docs/differences.md lists where we differ from lxcfs; each renderer's comment gives
// its formulas and its own list. In short:
//
//   - meminfo: MemAvailable = MemFree + (active_file + inactive_file +
//     slab_reclaimable)/1024, capped at MemTotal (lxcfs 6.0/7.0 formula;
//     5.0.3 adds cache). MemFree and AnonPages floor at 0 instead of wrapping.
//     v1 SwapTotal is the swap share alone, not the memsw limit. v2 Mapped,
//     Dirty, Writeback, AnonHugePages, Slab, SReclaimable and SUnreclaim come
//     from memory.stat (lxcfs prints 0); Zswap/Zswapped are the cgroup's
//     (5.0.3 shows the host's). Every other field is the container's,
//     derived by a rule, or 0 (lxcfs copies the host's Mlocked,
//     KReclaimable, KernelStack, CommitLimit, DirectMap*, ...); see Meminfo.
//   - swaps: the kernel's header (lxcfs's has single tabs before Used and
//     Priority); size is meminfo's SwapTotal and used is SwapTotal - SwapFree,
//     also without a swap limit (5.0.3 shows host SwapFree as Used there).
//   - cpuinfo: a host file without processor lines is passed through (lxcfs
//     empties it); on s390x the "cpu number" blocks are filtered and "#
//     processors" is the container's count.
//   - stat: v2 shows the container's CPU time spread over its CPUs (lxcfs 7.0
//     shows host times); under --enable-cfs the per-CPU lines come from
//     package cputimes's history (monotonic, idle never going down; lxcfs's
//     first read is zeros and its idle can go down); ns to ticks is exact
//     integer arithmetic. With nothing to change the host's file, aggregate
//     included, is returned.
//   - loadavg: the kernel's format from package loadavg's averages; running
//     counts state R only, as the kernel does (lxcfs counts R and D).
//   - diskstats: from blkio.throttle.* (v1) or io.stat (v2), or per-task
//     accounting where those know nothing; every host device, 0 where
//     the container's count is unknown, the host line's field count (lxcfs
//     shows the host's file on current kernels and on v2).
//   - pressure: the container's cgroup2 file on v2 and hybrid hosts (lxcfs:
//     7.0 on v2 only, and io always the host's).
//   - uptime: idle = age x visible CPUs - usage (lxcfs: age - usage on v1,
//     age on v2); a reader in a time namespace with a boottime offset gets
//     the namespace's age, as the kernel shows it (lxcfs: the init's).
//   - stat: btime is the boot uptime counts from (lxcfs: the host's), so
//     btime + uptime = now (see Boot).
//   - online: as lxcfs, host numbers, or 0-(n-1) under --enable-cfs; we
//     makes present and possible the same.
package proc

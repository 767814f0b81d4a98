package proc

// Slabinfo appends the container's /proc/slabinfo to dst: cgroupSlab (v1
// memory.kmem.slabinfo, when the kernel fills it) if it is non-empty, else
// the host's /proc/slabinfo, as lxcfs does. v2 has no per-cgroup slabinfo,
// and kernels since 5.x leave the v1 file empty, so this is the host file on
// current systems.
func Slabinfo(dst, host, cgroupSlab []byte) []byte {
	if len(cgroupSlab) > 0 {
		return append(dst, cgroupSlab...)
	}
	return append(dst, host...)
}

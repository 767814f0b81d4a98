package proc

// Pressure appends a container's /proc/pressure/{cpu,io,memory} to dst:
// the lines of its cgroup's <res>.pressure file, verbatim ("some avg10=..
// avg60=.. avg300=.. total=..", and "full ..." where the kernel prints it;
// the cgroup file has the same format as the host's). cg is read from the
// unified hierarchy, on v2 and on hybrid hosts alike. With cg nil (no
// cgroup2 mount, no PSI, the root cgroup) the host's file is returned.
//
// lxcfs 7.0 reads cpu and memory only, and only on pure v2 hosts; its io
// is always the host's.
func Pressure(dst, host, cg []byte) []byte {
	if cg == nil {
		return append(dst, host...)
	}
	return append(dst, cg...)
}

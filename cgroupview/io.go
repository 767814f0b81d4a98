package cgroupview

// IO is the block I/O a cgroup subtree has done, per device.
type IO struct {
	// Devices are keyed by major and minor number.
	Devices map[Dev]IOCounters
}

// Dev is a block device number.
type Dev struct{ Major, Minor uint32 }

// IOCounters are the counts the cgroup files give; the rest of a
// diskstats line (merges, times, in flight) is not known per cgroup.
type IOCounters struct {
	ReadIOs, WriteIOs, DiscardIOs       uint64
	ReadBytes, WriteBytes, DiscardBytes uint64
}

// Zero reports whether the device saw no I/O.
func (c IOCounters) Zero() bool { return c == IOCounters{} }

// readIO picks blkio on v1 (blkio.throttle.*_recursive) or the io
// controller's io.stat on v2.
func (v *View) readIO(cg Cgroups) *IO {
	h := v.layout.ForController("blkio")
	ctrl := "blkio"
	if h == nil {
		h, ctrl = v.layout.ForController("io"), "io"
	}
	if h == nil {
		return nil
	}
	d, ok := v.dir(h, cg, ctrl)
	if !ok {
		return nil
	}
	var io *IO
	var err error
	if h.Version == 2 {
		io, err = ioV2(d)
	} else {
		io, err = ioV1(d)
	}
	if err != nil {
		v.log.Debug("io of cgroup unavailable", "path", d.path, "err", err)
		return nil
	}
	return io
}

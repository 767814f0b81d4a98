package hostcgroup

import (
	"time"

	"github.com/lxcfs-go/lxcfs-go/fallback"
)

// IO is the block I/O a cgroup subtree has done, per device.
type IO struct {
	// Devices are keyed by major and minor number.
	Devices map[Dev]IOCounters
	// Tasks is set when the cgroup files count no I/O at all (see readIO):
	// the storage bytes of the subtree's processes from the kernel's
	// per-task accounting, which names no device. Nil otherwise.
	Tasks *TaskIO
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

// readIO returns the cgroup subtree's block I/O, nil for the hierarchy's
// root cgroup (the host, whose file is already right) and when no
// hierarchy holds the process.
//
// Per device it reads blkio on v1 (blkio.throttle.*_recursive) or the io
// controller's io.stat on v2 (and on hybrid hosts whose io controller is on
// the unified hierarchy). Where those know nothing, Tasks holds the
// per-task accounting of the subtree's processes instead (taskio.go):
//   - no blkio or io controller holds the cgroup, or its files cannot be
//     read (io.stat is absent where the io controller is not enabled down
//     to the cgroup);
//   - v1 files that list no device: since Linux 6.10 the throttle layer
//     counts, and lists, only devices that have a throttle rule somewhere,
//     so most hosts' v1 blkio files say "Total 0" whatever the I/O. (A
//     v2 io.stat without lines is a cgroup that did no I/O, and is kept.)
//
// A cgroup once shown from per-task accounting stays so while its kept
// sum lives (taskio.go), even if a throttle rule makes the v1 files count
// later: a switch of source would make the counters jump back.
func (v *View) readIO(cg Cgroups) *IO {
	root, _, ok := v.taskDir(cg)
	if !ok || root.path == "/" {
		return nil
	}
	dir := root.base + root.path
	io, known := v.cgroupIO(cg)
	if known && !v.taskIOKept(dir) {
		return io
	}
	return &IO{Devices: map[Dev]IOCounters{}, Tasks: v.readTaskIO(dir, v.now())}
}

// cgroupIO reads the per-device counters of the blkio or io controller;
// known says they are the cgroup's counts on every device that did I/O.
func (v *View) cgroupIO(cg Cgroups) (*IO, bool) {
	h := v.layout.ForController("blkio")
	ctrl := "blkio"
	if h == nil {
		h, ctrl = v.layout.ForController("io"), "io"
	}
	if h == nil {
		return nil, false
	}
	d, ok := v.dir(h, cg, ctrl)
	if !ok {
		return nil, false
	}
	var io *IO
	var err error
	if h.Version == 2 {
		io, err = ioV2(d)
	} else {
		io, err = ioV1(d)
	}
	if err != nil {
		if v.fallbacks.Report(fallback.IO) {
			v.log.Debug("io of cgroup unavailable", "path", d.path, "err", err)
		}
		return nil, false
	}
	return io, h.Version == 2 || len(io.Devices) > 0
}

// taskIOTTL is how long a cgroup's per-task sum is reused, as thread
// counts are (tasks.go): summing reads one file per process.
const taskIOTTL = 250 * time.Millisecond

package hostcgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// A time namespace (Linux 5.6+, CONFIG_TIME_NS) shifts CLOCK_BOOTTIME for
// its members: the kernel shows them /proc/uptime, /proc/stat's btime and
// every /proc/<pid>/stat start time moved by the namespace's boottime
// offset. Runtimes that create one (runc's linux.timeOffsets, LXC's
// lxc.time.offset.boot) have already given the container a boot time of
// its own, consistent with its processes' start times; the renderers keep
// it rather than replacing it by the container init's age.

// timeNSState is the daemon's own time namespace and boottime offset, read
// once: offsets are relative to the initial namespace, and the daemon's
// /proc/uptime already includes its own.
type timeNSState struct {
	once   sync.Once
	id     string // see timeNS
	nanos  int64
	absent bool // no ns/time: a kernel without time namespaces
	err    error
}

// BoottimeOffset is the boottime offset of thread tid's time namespace
// relative to the daemon's own, in nanoseconds: how far the kernel moves
// uptime and process start times for tid compared with what the daemon
// reads. ok is false when tid shares the daemon's time namespace or the
// kernel has none (before 5.6, or built without CONFIG_TIME_NS); a
// namespace whose offset equals the daemon's gives ok true and 0.
//
// The offsets come from ProcFS/<tid>/timens_offsets, which shows those of
// tid's time_for_children namespace. That is tid's own, except for the
// moment between unshare(CLONE_NEWTIME) and the first fork, when the
// unsharing process (a runtime, not a reader) still lives in the old one;
// then the two differ and the offset is unknown: an error.
func (v *View) BoottimeOffset(tid int) (nanos int64, ok bool, err error) {
	self := v.selfTimeNS()
	if self.absent {
		return 0, false, nil
	}
	if self.err != nil {
		return 0, false, self.err
	}
	ns, err := timeNS(v.procPath(tid, "ns/time"))
	if err != nil {
		return 0, false, noProcess(err)
	}
	if ns == self.id {
		return 0, false, nil
	}
	children, err := timeNS(v.procPath(tid, "ns/time_for_children"))
	if err != nil {
		return 0, false, noProcess(err)
	}
	if children != ns {
		return 0, false, fmt.Errorf("hostcgroup: thread %d is between unshare(CLONE_NEWTIME) and fork: its own time offsets are not shown", tid)
	}
	theirs, err := v.readBoottimeOffset(tid)
	if err != nil {
		return 0, false, err
	}
	return theirs - self.nanos, true, nil
}

func (v *View) selfTimeNS() *timeNSState {
	s := &v.timeNS
	s.once.Do(func() {
		id, err := timeNS(v.procFS + "/self/ns/time")
		if errors.Is(err, fs.ErrNotExist) {
			s.absent = true
			return
		}
		if err != nil {
			s.err = fmt.Errorf("hostcgroup: own time namespace: %w", err)
			return
		}
		s.id = id
		b, err := v.host.ReadFile(v.procFS + "/self/timens_offsets")
		if err != nil {
			s.err = fmt.Errorf("hostcgroup: own time offsets: %w", err)
			return
		}
		if s.nanos, err = ParseTimensOffsets(b); err != nil {
			s.err = fmt.Errorf("hostcgroup: own time offsets: %w", err)
		}
	})
	return s
}

// timeNS names the time namespace behind the ns link name (ProcFS/<tid>/
// ns/time or ns/time_for_children) by the link's text, "time:[<inode>]":
// every namespace link reads so, and equal texts are the same namespace.
// readlink(2) stops at the link, where stat(2) follows it into nsfs at
// twice the cost (6 against 12 us in a one-off benchmark here), paid on
// every stat and uptime read.
func timeNS(name string) (string, error) {
	var buf [64]byte
	n, err := unix.Readlink(name, buf[:])
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(buf[:n]), nil
}

func (v *View) readBoottimeOffset(tid int) (int64, error) {
	name := v.procPath(tid, "timens_offsets")
	b, err := v.host.ReadFile(name)
	if err != nil {
		return 0, noProcess(err)
	}
	n, err := ParseTimensOffsets(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// ParseTimensOffsets returns the boottime offset of a
// /proc/<pid>/timens_offsets file in nanoseconds. Each line is
// "<clock> <secs> <nanosecs>", the clock "monotonic" or "boottime" (Linux
// 5.6 printed the clock ids, 1 and 7). A file without a boottime line has
// offset 0; a malformed boottime line is an error wrapping ErrParse.
func ParseTimensOffsets(b []byte) (int64, error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if clock := string(f[0]); clock != "boottime" && clock != "7" {
			continue
		}
		if len(f) != 3 {
			return 0, fmt.Errorf("%w: timens_offsets line %q", ErrParse, line)
		}
		secs, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: timens_offsets seconds %q", ErrParse, f[1])
		}
		ns, err := strconv.ParseInt(string(f[2]), 10, 64)
		if err != nil || ns < 0 || ns >= 1e9 {
			return 0, fmt.Errorf("%w: timens_offsets nanoseconds %q", ErrParse, f[2])
		}
		// The kernel bounds offsets to +-(KTIME_MAX / 2) ns; so does this.
		const maxSecs = (1<<63 - 1) / 2 / 1_000_000_000
		if secs > maxSecs || secs < -maxSecs {
			return 0, fmt.Errorf("%w: timens_offsets seconds %d out of range", ErrParse, secs)
		}
		return secs*1e9 + ns, nil
	}
	return 0, nil
}

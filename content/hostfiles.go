package content

import (
	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// Host files on the read path.
//
// Every virtual file starts from a host file (/proc/meminfo, /proc/stat,
// ...), read through the Source's hostfs.FS: the vfiles table's
// SingleRecord host files from kept fds, /proc/meminfo and /proc/stat
// reused for hostfs.MeminfoTTL and hostfs.StatTTL, /proc/cpuinfo for
// hostfs.CPUInfoTTL (see package hostfs for why); multi-record files such
// as swaps and diskstats, and fixtures, are read afresh every time.

// readHost returns the content of f's host file: owned by the caller, or,
// for cpuinfo, meminfo and stat, shared and never modified.
func (s *Source) readHost(f vfiles.File) ([]byte, error) {
	switch f {
	case vfiles.CPUInfo:
		return s.hostFS.CPUInfo()
	case vfiles.Meminfo:
		return s.hostFS.Meminfo()
	case vfiles.Stat:
		return s.hostFS.Stat()
	}
	if f.Row().SingleRecord {
		return s.hostFS.ReadRecord(s.HostPath(f))
	}
	return s.hostFS.ReadWhole(s.HostPath(f))
}

// onlineEntry is the host's online CPU list parsed from its text.
type onlineEntry struct {
	raw string
	set hostcgroup.CPUSet
}

// hostOnlineSet is the host's online CPU list, parsed only when its text
// changes; an unreadable or empty list gives CPU 0 alone.
func (s *Source) hostOnlineSet() hostcgroup.CPUSet {
	if raw, err := s.hostFS.CPUOnline(); err == nil {
		if e := s.online.Load(); e != nil && e.raw == raw {
			return e.set
		}
		if set, err := hostcgroup.ParseCPUSet(raw); err == nil && !set.IsEmpty() {
			s.online.Store(&onlineEntry{raw: raw, set: set})
			return set
		}
	}
	var set hostcgroup.CPUSet
	set.Add(0)
	return set
}

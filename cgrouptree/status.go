package cgrouptree

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// Status is what the decisions need from /proc/<pid>/status, as the daemon
// sees it (IDs and pids in the daemon's namespaces).
type Status struct {
	TGID int
	// UIDs and GIDs are real, effective, saved and filesystem IDs.
	UIDs, GIDs [4]uint32
	Groups     []uint32
	CapEff     uint64
	// NSpid is the pid in each pid namespace from the daemon's down to the
	// process's own.
	NSpid []int
}

// ParseStatus parses the fields of /proc/<pid>/status that Status holds.
// Tgid, Uid, Gid and NSpid must be present.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	field := func(key string) (string, bool) { return hostfs.ParseStatusField(b, key) }
	bad := func(key, v string) error {
		return fmt.Errorf("%w: status %s: %q", hostcgroup.ErrParse, key, v)
	}
	v, ok := field("Tgid")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n <= 0 {
		return Status{}, bad("Tgid", v)
	}
	s.TGID = n
	for _, k := range []struct {
		key string
		dst *[4]uint32
	}{{"Uid", &s.UIDs}, {"Gid", &s.GIDs}} {
		v, ok := field(k.key)
		f := strings.Fields(v)
		if !ok || len(f) != 4 {
			return Status{}, bad(k.key, v)
		}
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return Status{}, bad(k.key, v)
			}
			k.dst[i] = uint32(n)
		}
	}
	if v, ok := field("Groups"); ok {
		for _, g := range strings.Fields(v) {
			n, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return Status{}, bad("Groups", v)
			}
			s.Groups = append(s.Groups, uint32(n))
		}
	}
	if v, ok := field("CapEff"); ok {
		n, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			return Status{}, bad("CapEff", v)
		}
		s.CapEff = n
	}
	v, ok = field("NSpid")
	f := strings.Fields(v)
	if !ok || len(f) == 0 {
		return Status{}, bad("NSpid", v)
	}
	for _, p := range f {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return Status{}, bad("NSpid", v)
		}
		s.NSpid = append(s.NSpid, n)
	}
	return s, nil
}

// ParsePids parses the content of tasks, cgroup.procs or cgroup.threads:
// one decimal pid per line.
func ParsePids(b []byte) ([]int, error) {
	var pids []int
	for f := range strings.FieldsSeq(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%w: pid %q", hostcgroup.ErrParse, f)
		}
		pids = append(pids, n)
	}
	return pids, nil
}

// ParseWrittenPid parses what a writer writes to a pid file: one
// non-negative decimal number with surrounding white space, as the kernel
// takes it (kstrtoint after strstrip); 0 means the writer itself.
func ParseWrittenPid(b []byte) (int, bool) {
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// PidFile reports whether name is a file of pids: tasks and cgroup.procs
// (v1 and v2) and cgroup.threads (v2). Threads says whether it lists
// threads rather than processes.
func PidFile(name string) (isPid, threads bool) {
	switch name {
	case "tasks", "cgroup.threads":
		return true, true
	case "cgroup.procs":
		return true, false
	}
	return false, false
}

package hostcgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"syscall"

	"github.com/lxcfs-go/lxcfs-go/fallback"
)

// Membership is one line of /proc/<pid>/cgroup: "hierarchy-ID:controllers:path".
type Membership struct {
	// HierarchyID is 0 for the cgroup2 hierarchy.
	HierarchyID int
	// Controllers is the comma-separated second field split up; empty for
	// the cgroup2 line ("0::/path").
	Controllers []string
	// Path is the cgroup path as the kernel prints it, without the
	// " (deleted)" suffix (see Deleted).
	Path string
	// Deleted is set when the kernel marked a cgroup2 path " (deleted)": the
	// process (a zombie) sits in a removed cgroup, and a new cgroup may
	// since have been created under the same name.
	Deleted bool
}

// deletedSuffix is what the kernel appends to the cgroup2 path of a process
// whose cgroup was removed (kernel/cgroup/cgroup.c, proc_cgroup_show).
const deletedSuffix = " (deleted)"

// ParseProcCgroup parses /proc/<pid>/cgroup. The path is everything after
// the second colon, so paths containing colons survive.
func ParseProcCgroup(r io.Reader) ([]Membership, error) {
	var out []Membership
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		ctrls, path, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: cgroup line %d: %q is not id:controllers:path", ErrParse, n, line)
		}
		hid, err := strconv.Atoi(id)
		if err != nil || hid < 0 {
			return nil, fmt.Errorf("%w: cgroup line %d: bad hierarchy id %q", ErrParse, n, id)
		}
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("%w: cgroup line %d: path %q is not absolute", ErrParse, n, path)
		}
		m := Membership{HierarchyID: hid, Path: path}
		if ctrls != "" {
			m.Controllers = strings.Split(ctrls, ",")
		}
		if hid == 0 && ctrls == "" {
			if p, ok := strings.CutSuffix(path, deletedSuffix); ok {
				m.Path, m.Deleted = p, true
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading cgroup file: %w", err)
	}
	return out, nil
}

// pruneInitScope removes a trailing "/init.scope": systemd inside a
// container moves its init there, and the container's limits sit on the
// parent. "/init.scope" alone becomes "/".
func pruneInitScope(p string) string {
	if p == "/init.scope" {
		return "/"
	}
	if q, ok := strings.CutSuffix(p, "/init.scope"); ok {
		return q
	}
	return p
}

// Cgroups reads ProcFS/<pid>/cgroup and returns where the process sits in
// each hierarchy, with a trailing "/init.scope" removed. pid may be a
// thread ID. A process that is gone gives an error wrapping ErrNoProcess. A
// cgroup2 path the kernel marks deleted is left out (HasUnified false).
func (v *View) Cgroups(pid int) (Cgroups, error) {
	if pid <= 0 {
		return Cgroups{}, fmt.Errorf("%w: pid %d", ErrNoProcess, pid)
	}
	name := v.procPath(pid, "cgroup")
	b, err := v.host.ReadFile(name)
	if err != nil {
		if isGone(err) {
			return Cgroups{}, fmt.Errorf("%w: %v", ErrNoProcess, err)
		}
		return Cgroups{}, err
	}
	if cg, ok := v.cgroups.lookup(b); ok {
		return cg, nil
	}
	ms, err := ParseProcCgroup(bytes.NewReader(b))
	if err != nil {
		return Cgroups{}, fmt.Errorf("%s: %w", name, err)
	}
	cg := Cgroups{V1: make(map[string]string, len(ms))}
	defer func() { v.cgroups.store(b, cg) }()
	for _, m := range ms {
		if m.HierarchyID == 0 && len(m.Controllers) == 0 {
			if m.Deleted {
				if v.fallbacks.Report(fallback.CgroupRemoved) {
					v.log.Debug("cgroup2 path of process was removed", "pid", pid, "path", m.Path)
				}
				continue
			}
			cg.Unified, cg.HasUnified = pruneInitScope(m.Path), true
			continue
		}
		for _, c := range m.Controllers {
			if c != "" {
				cg.V1[c] = pruneInitScope(m.Path)
			}
		}
	}
	return cg, nil
}

// isGone reports whether err from a /proc/<pid> file means the process no
// longer exists. Reading a file of a process that exits mid-read gives
// ESRCH.
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

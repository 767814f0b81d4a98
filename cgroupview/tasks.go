package cgroupview

import (
	"bytes"
	"os"
	"strconv"
)

// Tasks counts the threads of a container's cgroup subtree by state.
type Tasks struct {
	Total   int
	Running int // state R
	Blocked int // state D (uninterruptible, what procs_blocked counts)
}

// maxTaskWalk bounds how many threads one count visits, so that a caller in
// a cgroup with a huge subtree cannot make one read arbitrarily slow.
const maxTaskWalk = 1 << 16

// taskHierarchy picks where to list threads: the cpu hierarchy on v1 (or any
// v1 hierarchy the process is in), the unified one on v2.
func (v *View) taskDir(cg Cgroups) (cgroupDir, string, bool) {
	for _, h := range []*Hierarchy{v.cpu, v.cpuacct, v.memory, v.cpuset} {
		if h == nil {
			continue
		}
		if d, ok := v.dir(h, cg, controllerOf(h)); ok {
			if h.Version == 2 {
				return d, "cgroup.threads", true
			}
			return d, "tasks", true
		}
	}
	return cgroupDir{}, "", false
}

// controllerOf names one controller of a v1 hierarchy, the key of
// Cgroups.V1; "" for the unified hierarchy.
func controllerOf(h *Hierarchy) string {
	if h.Version == 2 || len(h.Controllers) == 0 {
		return ""
	}
	return h.Controllers[0]
}

// readTasks counts the threads in the cgroup and every descendant by their
// state in /proc/<tid>/stat. It returns nil for the hierarchy's root cgroup
// (that is the whole host, whose counts the host file already has) and when
// no hierarchy holds the process.
func (v *View) readTasks(cg Cgroups) *Tasks {
	d, file, ok := v.taskDir(cg)
	if !ok || d.path == "/" {
		return nil
	}
	t := &Tasks{}
	if !v.countTasks(d.base+d.path, file, t, 0) {
		return nil
	}
	return t
}

// countTasks adds the threads of dir and its descendants to t; false when
// dir itself cannot be read.
func (v *View) countTasks(dir, file string, t *Tasks, depth int) bool {
	b, err := os.ReadFile(dir + "/" + file)
	if err != nil {
		return false
	}
	var stat [512]byte
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if t.Total >= maxTaskWalk {
			return true
		}
		tid, err := strconv.Atoi(string(bytes.TrimSpace(line)))
		if err != nil || tid <= 0 {
			continue
		}
		switch taskState(v.procPath(tid, "stat"), stat[:]) {
		case 'R':
			t.Running++
		case 'D':
			t.Blocked++
		case 0:
			continue // exited meanwhile
		}
		t.Total++
	}
	if depth >= 64 {
		return true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, e := range entries {
		if e.IsDir() {
			v.countTasks(dir+"/"+e.Name(), file, t, depth+1)
		}
	}
	return true
}

// taskState is the state letter of /proc/<tid>/stat (the field after the
// command, which may itself hold spaces and parentheses); 0 if unreadable.
func taskState(name string, buf []byte) byte {
	f, err := os.Open(name)
	if err != nil {
		return 0
	}
	n, _ := f.Read(buf)
	f.Close()
	b := buf[:n]
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

package hostcgroup

import (
	"bytes"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/internal/genmap"
	"github.com/lxcfs-go/lxcfs-go/internal/kfile"
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
// no hierarchy holds the process. The result is the caller's to modify.
//
// Counting walks every thread of the subtree, so a count is reused for
// taskCountTTL by readers of the same cgroup: procs_running is an
// instantaneous, noisy figure that tools sample once a second or less
// often, while a monitoring agent or a benchmark may read /proc/stat
// thousands of times a second. Only the cgroup's path keys the cache: a
// process that moves reads its new cgroup's count at once, and a cgroup
// removed and made again shows at most taskCountTTL of the old count.
func (v *View) readTasks(cg Cgroups) *Tasks {
	d, file, ok := v.taskDir(cg)
	if !ok || d.path == "/" {
		return nil
	}
	dir := d.base + d.path
	now := v.now()
	if t, ok := v.cachedTasks(dir, now); ok {
		return &t
	}
	t := &Tasks{}
	if !v.countTasks(dir, file, t, 0) {
		return nil
	}
	v.taskCounts.Put(dir, taskCount{t: *t, at: now})
	return t
}

// taskCountTTL is how long a cgroup's thread count is reused.
const taskCountTTL = 250 * time.Millisecond

// taskCountsMax bounds each generation of the cache of thread counts; an
// entry goes a few TTLs after its last use.
const taskCountsMax = 4096

type taskCount struct {
	t  Tasks
	at time.Time
}

func newTaskCounts() *genmap.Map[string, taskCount] {
	return genmap.New[string, taskCount](4*taskCountTTL, taskCountsMax)
}

func (v *View) cachedTasks(dir string, now time.Time) (Tasks, bool) {
	e, ok := v.taskCounts.Get(dir)
	if !ok || now.Sub(e.at) >= taskCountTTL || now.Before(e.at) {
		return Tasks{}, false
	}
	return e.t, true
}

// countTasks adds the threads of dir and its descendants to t; false when
// dir itself cannot be read. It uses plain system calls and a pooled buffer
// (Stat reads it on every read of /proc/stat).
func (v *View) countTasks(dir, file string, t *Tasks, depth int) bool {
	bp := kfile.GetBuf()
	b, err := kfile.ReadToEOF(dir+"/"+file, bp)
	if err != nil {
		kfile.PutBuf(bp)
		return false
	}
	var stat [512]byte
	pathBuf := make([]byte, 0, 64)
	for len(b) > 0 {
		if t.Total >= maxTaskWalk {
			kfile.PutBuf(bp)
			return true
		}
		var line []byte
		line, b = hostfs.CutLine(b)
		tid, ok := parseTid(line)
		if !ok {
			continue
		}
		pathBuf = append(append(append(pathBuf[:0], v.procFS...), '/'), strconv.Itoa(tid)...)
		pathBuf = append(pathBuf, "/stat"...)
		switch taskState(pathBuf, stat[:]) {
		case 'R':
			t.Running++
		case 'D':
			t.Blocked++
		case 0:
			continue // exited meanwhile
		}
		t.Total++
	}
	kfile.PutBuf(bp)
	if depth >= 64 {
		return true
	}
	for _, name := range subdirs(dir) {
		v.countTasks(dir+"/"+name, file, t, depth+1)
	}
	return true
}

// parseTid parses one line of a tasks or cgroup.threads file.
func parseTid(line []byte) (int, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range line {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n > 0
}

// subdirs lists the names of the subdirectories of dir (child cgroups),
// reading the directory with getdents and keeping only DT_DIR entries.
func subdirs(dir string) []string {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	bp := kfile.GetBuf()
	defer kfile.PutBuf(bp)
	var names []string
	for {
		n, err := unix.Getdents(fd, *bp)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return names
		}
		buf := (*bp)[:n]
		for len(buf) >= 19 {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			reclen := int(buf[16]) | int(buf[17])<<8
			if reclen < 19 || reclen > len(buf) {
				return names
			}
			if buf[18] == unix.DT_DIR {
				name := buf[19:reclen]
				if i := bytes.IndexByte(name, 0); i >= 0 {
					name = name[:i]
				}
				if s := string(name); s != "." && s != ".." {
					names = append(names, s)
				}
			}
			buf = buf[reclen:]
		}
	}
}

// taskState is the state letter of /proc/<tid>/stat (the field after the
// command, which may itself hold spaces and parentheses); 0 if unreadable.
// name is the path; buf receives the file's start. Thread stat files are
// opened and closed each time rather than kept in the fd cache: threads
// come and go, and their fds would crowd out the cgroup files there.
func taskState(name []byte, buf []byte) byte {
	fd, err := kfile.OpenRO(string(name))
	if err != nil {
		return 0
	}
	n, _ := unix.Read(fd, buf)
	unix.Close(fd)
	var b []byte
	if n > 0 {
		b = buf[:n]
	}
	if len(b) == 0 {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

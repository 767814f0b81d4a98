package hostcgroup

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/internal/genmap"
	"github.com/lxcfs-go/lxcfs-go/internal/kfile"
)

// TaskIO is the storage I/O of a cgroup subtree's processes by the
// kernel's per-task I/O accounting (/proc/<pid>/io,
// CONFIG_TASK_IO_ACCOUNTING), the one block I/O count a kernel keeps per
// process whatever its cgroup setup.
//
// What it counts: read_bytes is what the process had read from block
// devices (submitted reads, readahead included, page cache hits not);
// write_bytes what it dirtied in the page cache or wrote with O_DIRECT,
// counted when written or dirtied, not when written back;
// cancelled_write_bytes the dirty pages it truncated before they were
// written, which are subtracted. It names no device, and has no request
// counts: syscr and syscw count read(2) and write(2) calls on any file,
// pipes and sockets included, and are not disk I/Os, so they are not used.
//
// What the sum over the subtree's live processes covers: each process's
// file covers its lifetime, its exited threads, and its children that it
// reaped (the kernel adds a reaped child's counts to the parent's). In a
// container whose init reaps orphans, the sum is all the I/O done since
// the container started. It misses, and so goes down by, the counts of a
// process that leaves the cgroup, of a child reaped by a parent outside
// it, and of children whose parent ignores SIGCHLD; a child reaped between
// the reads of its parent's and its own file is missed for one sum.
// readTaskIO therefore shows the largest sum seen for the cgroup: the
// counters never go down, and after a loss they stay flat until the
// processes left behind have done as much again.
type TaskIO struct {
	ReadBytes  uint64
	WriteBytes uint64
	// Devices are the block devices the bytes are shown on; the caller
	// sets them (the disk of the container's root file system).
	Devices []Dev
}

// taskIOKeep is how long the largest sum of a cgroup is kept after its
// last read (one to two periods, see genmap): a reader that pauses longer
// may see the counters go down after a loss.
const taskIOKeep = 10 * time.Minute

// taskIOsMax bounds each generation of the kept sums.
const taskIOsMax = 4096

// taskIOKey is a cgroup directory and its inode, so that a cgroup removed
// and made again under the same name (a restarted container) starts from
// its own counts.
type taskIOKey struct {
	dir string
	ino uint64
}

type taskIOEntry struct {
	shown TaskIO
	at    time.Time
}

func newTaskIOs() *genmap.Map[taskIOKey, taskIOEntry] {
	return genmap.New[taskIOKey, taskIOEntry](taskIOKeep, taskIOsMax)
}

// taskIOKeyOf returns the key of dir's kept sum; false when dir is gone.
func taskIOKeyOf(dir string) (taskIOKey, bool) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return taskIOKey{}, false
	}
	return taskIOKey{dir: dir, ino: st.Ino}, true
}

// taskIOKept reports whether dir's counts are being shown from per-task
// accounting.
func (v *View) taskIOKept(dir string) bool {
	key, ok := taskIOKeyOf(dir)
	if !ok {
		return false
	}
	_, ok = v.taskIOs.Get(key)
	return ok
}

// readTaskIO sums the per-task accounting of the processes in dir and its
// descendants, reusing a sum younger than taskIOTTL; nil when dir cannot
// be read.
func (v *View) readTaskIO(dir string, now time.Time) *TaskIO {
	key, ok := taskIOKeyOf(dir)
	if !ok {
		return nil
	}
	if e, ok := v.taskIOs.Get(key); ok && now.Sub(e.at) < taskIOTTL && !now.Before(e.at) {
		t := e.shown
		return &t
	}
	var sum taskIOSum
	seen := map[int]bool{}
	if !v.sumTaskIO(dir, &sum, seen, 0) {
		return nil
	}
	cur := TaskIO{ReadBytes: sum.read}
	if sum.write > sum.cancelled {
		cur.WriteBytes = sum.write - sum.cancelled
	}
	var shown TaskIO
	v.taskIOs.Update(key, func(e taskIOEntry, ok bool) taskIOEntry {
		if ok {
			cur.ReadBytes = max(cur.ReadBytes, e.shown.ReadBytes)
			cur.WriteBytes = max(cur.WriteBytes, e.shown.WriteBytes)
		}
		shown = cur
		return taskIOEntry{shown: cur, at: now}
	})
	return &shown
}

type taskIOSum struct{ read, write, cancelled uint64 }

// sumTaskIO adds the io files of the processes in dir and its descendants
// to sum, each process once; false when dir's cgroup.procs cannot be read.
func (v *View) sumTaskIO(dir string, sum *taskIOSum, seen map[int]bool, depth int) bool {
	bp := kfile.GetBuf()
	b, err := kfile.ReadToEOF(dir+"/cgroup.procs", bp)
	if err != nil {
		kfile.PutBuf(bp)
		return false
	}
	io := kfile.GetBuf()
	for len(b) > 0 && len(seen) < maxTaskWalk {
		var line []byte
		line, b = hostfs.CutLine(b)
		pid, ok := parseTid(line)
		if !ok || seen[pid] {
			continue
		}
		seen[pid] = true
		text, err := kfile.ReadToEOF(v.procPath(pid, "io"), io)
		if err != nil {
			continue // exited meanwhile
		}
		r, w, c, err := ParseTaskIO(text)
		if err != nil {
			continue
		}
		sum.read += r
		sum.write += w
		sum.cancelled += c
	}
	kfile.PutBuf(io)
	kfile.PutBuf(bp)
	if depth >= 64 {
		return true
	}
	for _, name := range subdirs(dir) {
		v.sumTaskIO(dir+"/"+name, sum, seen, depth+1)
	}
	return true
}

// ParseTaskIO parses /proc/<pid>/io ("key: value" lines) for read_bytes,
// write_bytes and cancelled_write_bytes; other keys are skipped. A file
// without read_bytes or write_bytes is an error.
func ParseTaskIO(b []byte) (read, write, cancelled uint64, err error) {
	var haveRead, haveWrite bool
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(bytes.TrimSpace(k)) {
		case "read_bytes":
			dst, haveRead = &read, true
		case "write_bytes":
			dst, haveWrite = &write, true
		case "cancelled_write_bytes":
			dst = &cancelled
		default:
			continue
		}
		n, perr := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64)
		if perr != nil {
			return 0, 0, 0, fmt.Errorf("%w: %s value %q", ErrParse, bytes.TrimSpace(k), truncate(val))
		}
		*dst = n
	}
	if !haveRead || !haveWrite {
		return 0, 0, 0, fmt.Errorf("%w: no read_bytes or write_bytes", ErrParse)
	}
	return read, write, cancelled, nil
}

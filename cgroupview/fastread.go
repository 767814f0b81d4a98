package cgroupview

import (
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/internal/kfile"
)

// Fast reads of the small kernel files on the read path: the cgroup files
// and /proc/<pid> files that the kernel generates as one seq_file record
// are kept open and re-read with pread (see package kfile for why that is
// both fast and correct when cgroups are removed, pids reused and
// processes moved). This file knows which names are one record.

// keptFiles is the process-wide cache of open cgroup and /proc/<pid> files,
// bounded to a quarter of the fd limit.
var keptFiles = kfile.NewCache(min(4096, kfile.FDBudget()/4))

func getBuf() *[]byte  { return kfile.GetBuf() }
func putBuf(b *[]byte) { kfile.PutBuf(b) }

// fastReadFile reads the whole of a small file into a new slice of its
// exact length. Errors are *fs.PathError wrapping the errno, as os.ReadFile
// gives.
func fastReadFile(name string) ([]byte, error) {
	bp := getBuf()
	b, err := fastReadInto(name, bp)
	var out []byte
	if err == nil {
		out = make([]byte, len(b))
		copy(out, b)
	}
	putBuf(bp)
	return out, err
}

// fastReadInto reads name into *bp (growing it) and returns the content,
// which aliases *bp: from a kept fd for one-record files, else by path.
func fastReadInto(name string, bp *[]byte) ([]byte, error) {
	if singleRecord(name) {
		return keptFiles.Read(name, bp)
	}
	return kfile.ReadToEOF(name, bp)
}

func openRO(name string) (int, error) { return kfile.OpenRO(name) }

func fdBudget() int { return kfile.FDBudget() }

// singleRecord reports whether the kernel generates the file named by its
// base name in one seq_file record, so one pread at offset 0 returns all of
// it whenever it fits the buffer.
func singleRecord(name string) bool {
	base := path.Base(name)
	switch base {
	case "stat", "status", "cgroup", // /proc/<pid>/
		"cgroup.controllers", "cgroup.subtree_control",
		"cpuacct.usage_all", "cpuacct.usage_percpu", "cpuacct.stat", "cpuacct.usage",
		"cpuset.cpus", "cpuset.effective_cpus", "cpuset.cpus.effective", "cpuset.mems", "cpuset.effective_mems",
		"io.stat":
		return true
	}
	if strings.HasPrefix(base, "memory.") {
		// Every memory.* file is one record except the slab listing.
		return base != "memory.kmem.slabinfo" && base != "memory.numa_stat"
	}
	if strings.HasPrefix(base, "cpu.") || strings.HasSuffix(base, ".pressure") {
		return true
	}
	return false
}

// isCgroupFS reports whether dir is on a cgroup v1 or v2 file system.
func isCgroupFS(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	t := uint32(st.Type)
	return t == unix.CGROUP_SUPER_MAGIC || t == unix.CGROUP2_SUPER_MAGIC
}

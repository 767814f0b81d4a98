package realsystemd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// execCgroup is the child of a hostCgroup that commands run in the
// container from the host (machine.command) join: below the tree, so that
// nothing the test starts escapes its removal, and beside the container's
// own cgroups, which belong to its systemd.
const execCgroup = "exec"

// hostCgroup is the cgroup a container lives in:
// lxcfs-go-test-realsystemd-<random> at the root of every hierarchy of the
// host: each v1 hierarchy (named ones such as name=systemd included) and the
// unified one. systemd-nspawn is started inside it, so everything nspawn
// and the container's systemd create is below it (nspawn makes
// "supervisor" and "payload" there, the container's systemd its slices
// below "payload"), and removing the tree removes all of it. It also
// gives the container a memory cgroup of its own, whose limit the
// container's lxcfs-go shows as MemTotal.
type hostCgroup struct {
	name  string
	roots []string // mount points of the hierarchies, deduplicated
}

// newHostCgroup creates the tree (and its execCgroup child) and registers
// its removal. The removal fails the test if the tree still has processes
// after the container is gone.
func newHostCgroup(t testing.TB) *hostCgroup {
	t.Helper()
	layout, err := testenv.HostLayout()
	if err != nil {
		t.Fatal(err)
	}
	cg := &hostCgroup{}
	for _, mp := range layout.V1 {
		if !slices.Contains(cg.roots, mp) {
			cg.roots = append(cg.roots, mp)
		}
	}
	if layout.Unified != "" {
		cg.roots = append(cg.roots, layout.Unified)
	}
	slices.Sort(cg.roots)
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	cg.name = testenv.CgroupPrefix + "realsystemd-" + hex.EncodeToString(rnd[:])
	// Registered before anything exists, so that a failure half-way
	// still removes what was made.
	t.Cleanup(func() {
		if err := cg.remove(10 * time.Second); err != nil {
			t.Errorf("removing cgroup %s: %v", cg.name, err)
		}
	})
	for _, sub := range []string{"", execCgroup} {
		for _, root := range cg.roots {
			dir := filepath.Join(root, cg.name, sub)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			// A v1 cpuset cgroup starts with no CPUs and no memory nodes,
			// and refuses tasks until it has some: give it its parent's.
			if _, err := os.Stat(filepath.Join(dir, "cpuset.cpus")); err == nil && !isCgroup2(root) {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					v, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
					if err != nil {
						t.Fatal(err)
					}
					if err := writeCgroupFile(filepath.Join(dir, f), strings.TrimSpace(string(v))); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	return cg
}

// procsFiles are the cgroup.procs files of sub ("" for the tree's top) in
// every hierarchy: a process that writes its pid to each has joined it.
func (cg *hostCgroup) procsFiles(sub string) []string {
	var files []string
	for _, root := range cg.roots {
		files = append(files, filepath.Join(root, cg.name, sub, "cgroup.procs"))
	}
	return files
}

// setMemoryLimit limits the tree's memory to bytes (v1 memory.limit_in_bytes,
// or memory.max where the memory controller is on cgroup2 and already
// enabled for the root's children). It returns false, and changes
// nothing, when it cannot: the host's own cgroups are never written.
func (cg *hostCgroup) setMemoryLimit(bytes int64) bool {
	v := strconv.FormatInt(bytes, 10)
	for _, root := range cg.roots {
		dir := filepath.Join(root, cg.name)
		if _, err := os.Stat(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
			return writeCgroupFile(filepath.Join(dir, "memory.limit_in_bytes"), v) == nil
		}
		if _, err := os.Stat(filepath.Join(dir, "memory.max")); err == nil {
			return writeCgroupFile(filepath.Join(dir, "memory.max"), v) == nil
		}
	}
	return false
}

// pids lists the processes anywhere in the tree, in any hierarchy.
func (cg *hostCgroup) pids() []int {
	var pids []int
	for _, root := range cg.roots {
		_ = filepath.WalkDir(filepath.Join(root, cg.name), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// remove removes the tree, deepest directories first, in every hierarchy,
// retrying while exiting tasks leave (EBUSY). Processes still in it at the
// deadline are ours (nothing else runs there): they are SIGKILLed by PID
// and reported, since the container's shutdown should have ended them.
func (cg *hostCgroup) remove(timeout time.Duration) error {
	var errs []error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && len(cg.pids()) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if left := cg.pids(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes still in it after the container stopped, killed: %s", describePids(left)))
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, root := range cg.roots {
		if err := testenv.RemoveCgroupTree(filepath.Join(root, cg.name), 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// describePids is "pid (comm)" for each pid, for messages.
func describePids(pids []int) string {
	var parts []string
	for _, pid := range pids {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		parts = append(parts, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(comm))))
	}
	return strings.Join(parts, ", ")
}

func isCgroup2(mountPoint string) bool {
	var st unix.Statfs_t
	return unix.Statfs(mountPoint, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// writeCgroupFile writes value in one write(2), as cgroup files want.
func writeCgroupFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

package testenv

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
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// CgroupPrefix starts the name of every cgroup the harness creates.
const CgroupPrefix = "lxcfs-go-test-"

// DefaultControllers are the controllers a cgroup gets when
// CgroupOptions.Controllers is empty. Names are the harness's: "cpuacct" is
// the cpu controller on cgroup2 and "io" is blkio on v1.
var DefaultControllers = []string{"memory", "cpu", "cpuacct", "cpuset", "io"}

// CgroupOptions configures NewCgroup.
type CgroupOptions struct {
	// Controllers the cgroup must have (see DefaultControllers). On a
	// hybrid host the cgroup is also created in the (controller-less)
	// unified hierarchy, so that pressure files and the "0::" line of
	// /proc/<pid>/cgroup name it too.
	Controllers []string
}

// Cgroup is a cgroup the test created, present in every hierarchy the
// test needs under the same relative path.
type Cgroup struct {
	t    testing.TB
	tree *cgTree
	rel  string // "/lxcfs-go-test-1a2b3c4d/a", relative to each hierarchy root
}

// hierarchy is one mounted hierarchy the tree lives in.
type hierarchy struct {
	mount       string
	v2          bool
	controllers []string // harness names served by this hierarchy
	v2names     []string // cgroup2 names of those controllers, for subtree_control
}

// cgTree is what a NewCgroup root and all its children share.
type cgTree struct {
	hier []hierarchy

	mu      sync.Mutex
	members []*member // processes started in the tree, killed at cleanup
	nodes   []*Cgroup
}

// member is a process a helper started inside a cgroup of the tree.
type member struct {
	pid  int
	kill func() error
	done <-chan struct{}
}

// NewCgroup creates lxcfs-go-test-<random> at the root of each hierarchy
// with one of the wanted controllers. On a cgroup2 hierarchy it first
// enables those controllers in the root's cgroup.subtree_control if
// needed. t.Cleanup kills the processes the helpers started in the tree
// and removes it deepest-first.
func NewCgroup(t testing.TB, opts CgroupOptions) *Cgroup {
	t.Helper()
	RequireRoot(t)
	layout, err := HostLayout()
	if err != nil {
		t.Fatalf("testenv: cgroup layout: %v", err)
	}
	want := opts.Controllers
	if len(want) == 0 {
		want = DefaultControllers
	}
	tree := &cgTree{}
	byMount := map[string]int{}
	for _, c := range want {
		mount, v2, v2name, err := layout.hierarchyFor(c)
		if err != nil {
			t.Skipf("testenv: %v", err)
		}
		i, ok := byMount[mount]
		if !ok {
			i = len(tree.hier)
			byMount[mount] = i
			tree.hier = append(tree.hier, hierarchy{mount: mount, v2: v2})
		}
		h := &tree.hier[i]
		h.controllers = append(h.controllers, c)
		if v2 && !slices.Contains(h.v2names, v2name) {
			h.v2names = append(h.v2names, v2name)
		}
	}
	if _, ok := byMount[layout.Unified]; !ok && layout.Unified != "" {
		tree.hier = append(tree.hier, hierarchy{mount: layout.Unified, v2: true})
	}
	for _, h := range tree.hier {
		if h.v2 {
			if err := enableControllers(h.mount, h.v2names); err != nil {
				t.Fatalf("testenv: %v", err)
			}
		}
	}

	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	root := &Cgroup{t: t, tree: tree, rel: "/" + CgroupPrefix + hex.EncodeToString(rnd[:])}
	// Register removal before creating anything, so that a failure half-way
	// still cleans up what exists.
	t.Cleanup(func() { tree.remove(t, root.rel) })
	if err := root.mkdirAll(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

// Child creates the child cgroup name (which may be "a/b") in every
// hierarchy of cg. On v1 a new cpuset cgroup gets its parent's cpuset.cpus
// and cpuset.mems so that processes can join it; set a parent's CPUs
// before creating its children.
func (cg *Cgroup) Child(name string) *Cgroup {
	cg.t.Helper()
	c := cg
	for _, part := range strings.Split(strings.Trim(name, "/"), "/") {
		if part == "" || part == "." || part == ".." {
			cg.t.Fatalf("testenv: bad cgroup name %q", name)
		}
		next := &Cgroup{t: cg.t, tree: cg.tree, rel: c.rel + "/" + part}
		if _, err := os.Stat(next.dirIn(cg.tree.hier[0])); errors.Is(err, fs.ErrNotExist) {
			if err := next.mkdirAll(); err != nil {
				cg.t.Fatalf("testenv: %v", err)
			}
		}
		c = next
	}
	return c
}

func (cg *Cgroup) mkdirAll() error {
	for _, h := range cg.tree.hier {
		dir := cg.dirIn(h)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if !h.v2 && slices.Contains(h.controllers, "cpuset") {
			parent := filepath.Dir(dir)
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(parent, f))
				if err != nil {
					return err
				}
				if err := writeFile(filepath.Join(dir, f), strings.TrimSpace(string(v))); err != nil {
					return err
				}
			}
		}
	}
	cg.tree.mu.Lock()
	cg.tree.nodes = append(cg.tree.nodes, cg)
	cg.tree.mu.Unlock()
	return nil
}

func (cg *Cgroup) dirIn(h hierarchy) string { return filepath.Join(h.mount, cg.rel) }

// Rel is the cgroup's path relative to the hierarchy roots, as
// /proc/<pid>/cgroup shows it: "/lxcfs-go-test-1a2b3c4d/a".
func (cg *Cgroup) Rel() string { return cg.rel }

// Path is the cgroup's directory in the hierarchy that has controller c
// (harness name, see DefaultControllers), or in the unified hierarchy for
// c == "unified".
func (cg *Cgroup) Path(c string) string {
	cg.t.Helper()
	h, ok := cg.tree.find(c)
	if !ok {
		cg.t.Fatalf("testenv: cgroup %s has no hierarchy for %q", cg.rel, c)
	}
	return cg.dirIn(h)
}

// V2 reports whether controller c of cg is served by cgroup2.
func (cg *Cgroup) V2(c string) bool {
	cg.t.Helper()
	h, ok := cg.tree.find(c)
	if !ok {
		cg.t.Fatalf("testenv: cgroup %s has no hierarchy for %q", cg.rel, c)
	}
	return h.v2
}

func (tr *cgTree) find(c string) (hierarchy, bool) {
	for _, h := range tr.hier {
		if slices.Contains(h.controllers, c) {
			return h, true
		}
	}
	if c == "unified" {
		for _, h := range tr.hier {
			if h.v2 {
				return h, true
			}
		}
	}
	return hierarchy{}, false
}

// ProcsFiles are the cgroup.procs files of cg in every hierarchy: writing
// a pid to all of them moves that process into cg.
func (cg *Cgroup) ProcsFiles() []string {
	var files []string
	for _, h := range cg.tree.hier {
		files = append(files, filepath.Join(cg.dirIn(h), "cgroup.procs"))
	}
	return files
}

// Set writes value to file (e.g. "memory.high") in the hierarchy of
// controller c, failing the test on error.
func (cg *Cgroup) Set(c, file, value string) {
	cg.t.Helper()
	if err := writeFile(filepath.Join(cg.Path(c), file), value); err != nil {
		cg.t.Fatalf("testenv: %v", err)
	}
}

// Get reads file of controller c, trimmed.
func (cg *Cgroup) Get(c, file string) string {
	cg.t.Helper()
	b, err := os.ReadFile(filepath.Join(cg.Path(c), file))
	if err != nil {
		cg.t.Fatalf("testenv: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// MemoryLimit sets the memory limit in bytes (v1 memory.limit_in_bytes,
// v2 memory.max); a negative value removes it.
func (cg *Cgroup) MemoryLimit(bytes int64) *Cgroup {
	cg.t.Helper()
	if cg.V2("memory") {
		cg.enableInParents("memory")
		v := "max"
		if bytes >= 0 {
			v = strconv.FormatInt(bytes, 10)
		}
		cg.Set("memory", "memory.max", v)
		return cg
	}
	if bytes < 0 {
		bytes = -1
	}
	cg.Set("memory", "memory.limit_in_bytes", strconv.FormatInt(bytes, 10))
	return cg
}

// CPUs sets the cpuset, e.g. "1" or "0-1" (v1 cpuset.cpus, v2 cpuset.cpus).
func (cg *Cgroup) CPUs(list string) *Cgroup {
	cg.t.Helper()
	if cg.V2("cpuset") {
		cg.enableInParents("cpuset")
	}
	cg.Set("cpuset", "cpuset.cpus", list)
	return cg
}

// CPUQuota sets the CFS bandwidth limit in microseconds (v1
// cpu.cfs_period_us then cpu.cfs_quota_us, v2 cpu.max); a negative quota
// removes the limit.
func (cg *Cgroup) CPUQuota(quota, period int64) *Cgroup {
	cg.t.Helper()
	if cg.V2("cpu") {
		cg.enableInParents("cpu")
		q := "max"
		if quota >= 0 {
			q = strconv.FormatInt(quota, 10)
		}
		cg.Set("cpu", "cpu.max", q+" "+strconv.FormatInt(period, 10))
		return cg
	}
	// Unlimit first, so that the period can change whatever the old quota.
	cg.Set("cpu", "cpu.cfs_quota_us", "-1")
	cg.Set("cpu", "cpu.cfs_period_us", strconv.FormatInt(period, 10))
	if quota >= 0 {
		cg.Set("cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	return cg
}

// AddTmpfs has a process in cg write bytes to a new file on /dev/shm, so
// that cg is charged with pages that count as Cached and Shmem but are not
// on the file LRU (Active(file)/Inactive(file)). The file is removed at
// cleanup, and by CleanupStale after a killed run.
func (cg *Cgroup) AddTmpfs(bytes int64) *Cgroup {
	cg.t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		cg.t.Fatal(err)
	}
	path := filepath.Join(shmDir, CgroupPrefix+"shm-"+hex.EncodeToString(rnd[:]))
	cg.t.Cleanup(func() { os.Remove(path) })
	kib := strconv.FormatInt((bytes+1023)/1024, 10)
	if _, stderr, err := cg.Run("dd", "if=/dev/zero", "of="+path, "bs=1024", "count="+kib, "status=none"); err != nil {
		cg.t.Fatalf("testenv: dd to %s: %v: %s", path, err, stderr)
	}
	return cg
}

// shmDir is the tmpfs AddTmpfs writes to.
const shmDir = "/dev/shm"

// CPUShares sets the CPU weight in v1 units (1024 is the default, 2 the
// least): v1 cpu.shares, v2 cpu.weight converted as systemd does.
func (cg *Cgroup) CPUShares(shares int64) *Cgroup {
	cg.t.Helper()
	if cg.V2("cpu") {
		cg.enableInParents("cpu")
		w := 1 + (shares-2)*9999/262142
		cg.Set("cpu", "cpu.weight", strconv.FormatInt(min(max(w, 1), 10000), 10))
		return cg
	}
	cg.Set("cpu", "cpu.shares", strconv.FormatInt(shares, 10))
	return cg
}

// RootCPUUsage is the CPU time of the root cgroup: every task on the host
// (v1 cpuacct.usage at the root of the cpuacct hierarchy, v2 usage_usec of
// the root's cpu.stat).
func RootCPUUsage() (time.Duration, error) {
	l, err := HostLayout()
	if err != nil {
		return 0, err
	}
	if dir, ok := l.V1["cpuacct"]; ok {
		b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
		if err != nil {
			return 0, err
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(ns), err
	}
	if l.Unified == "" {
		return 0, errors.New("testenv: no cpuacct hierarchy and no cgroup2")
	}
	b, err := os.ReadFile(filepath.Join(l.Unified, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	return usageUsec(string(b))
}

func usageUsec(cpuStat string) (time.Duration, error) {
	for _, line := range strings.Split(cpuStat, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "usage_usec" {
			us, err := strconv.ParseInt(f[1], 10, 64)
			return time.Duration(us) * time.Microsecond, err
		}
	}
	return 0, errors.New("testenv: no usage_usec in cpu.stat")
}

// CPUUsage is the CPU time used by cg and its descendants (v1
// cpuacct.usage, v2 usage_usec of cpu.stat).
func (cg *Cgroup) CPUUsage() time.Duration {
	cg.t.Helper()
	if cg.V2("cpuacct") {
		d, err := usageUsec(cg.Get("cpuacct", "cpu.stat"))
		if err != nil {
			cg.t.Fatalf("%v (%s)", err, cg.Path("cpuacct"))
		}
		return d
	}
	ns, err := strconv.ParseInt(cg.Get("cpuacct", "cpuacct.usage"), 10, 64)
	if err != nil {
		cg.t.Fatalf("testenv: cpuacct.usage: %v", err)
	}
	return time.Duration(ns)
}

// Procs lists the pids (host namespace) in cg's memory hierarchy, or its
// first hierarchy if it has no memory controller.
func (cg *Cgroup) Procs() []int {
	cg.t.Helper()
	dir := cg.dirIn(cg.tree.hier[0])
	if h, ok := cg.tree.find("memory"); ok {
		dir = cg.dirIn(h)
	}
	pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		cg.t.Fatalf("testenv: %v", err)
	}
	return pids
}

// enableInParents makes a cgroup2 controller available in cg: every
// ancestor up to the hierarchy root gets "+name" in its
// cgroup.subtree_control. cgroup2 refuses that for a non-root cgroup with
// processes of its own (EBUSY, "no internal processes"): put such
// processes in a leaf, for instance <ct>/init.scope.
func (cg *Cgroup) enableInParents(c string) {
	cg.t.Helper()
	h, ok := cg.tree.find(c)
	if !ok || !h.v2 {
		return
	}
	name := c
	if n, ok := v2Names[c]; ok {
		name = n
	}
	parts := strings.Split(strings.Trim(cg.rel, "/"), "/")
	dir := h.mount
	for _, p := range parts {
		if err := enableControllers(dir, []string{name}); err != nil {
			cg.t.Fatalf("testenv: %v", err)
		}
		dir = filepath.Join(dir, p)
	}
}

// enableControllers writes "+name" into dir/cgroup.subtree_control for
// each name not yet enabled there.
func enableControllers(dir string, names []string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	on := strings.Fields(string(b))
	for _, n := range names {
		if slices.Contains(on, n) {
			continue
		}
		if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+n); err != nil {
			return fmt.Errorf("enabling %s below %s: %w", n, dir, err)
		}
	}
	return nil
}

// track registers a process started in the tree, for cleanup.
func (tr *cgTree) track(m *member) {
	tr.mu.Lock()
	tr.members = append(tr.members, m)
	tr.mu.Unlock()
}

// remove kills the tracked processes and removes rel, deepest directories
// first, in every hierarchy, retrying on EBUSY while tasks exit.
func (tr *cgTree) remove(t testing.TB, rel string) {
	tr.mu.Lock()
	members := slices.Clone(tr.members)
	tr.mu.Unlock()
	for _, m := range members {
		select {
		case <-m.done:
			continue
		default:
		}
		_ = m.kill()
		select {
		case <-m.done:
		case <-time.After(5 * time.Second):
			t.Errorf("testenv: process %d still running 5s after SIGKILL", m.pid)
		}
	}
	for _, h := range tr.hier {
		if err := RemoveCgroupTree(filepath.Join(h.mount, rel), 5*time.Second); err != nil {
			t.Errorf("testenv: removing cgroup: %v", err)
		}
	}
}

// RemoveCgroupTree rmdirs the cgroup dir and every cgroup below it,
// deepest first. Retries on EBUSY until timeout. Does not move or kill any
// process.
func RemoveCgroupTree(dir string, timeout time.Duration) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	deadline := time.Now().Add(timeout)
	for _, d := range dirs {
		for {
			err := unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if errors.Is(err, unix.EBUSY) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			pids, _ := readPids(filepath.Join(d, "cgroup.procs"))
			return fmt.Errorf("rmdir %s: %w (cgroup.procs: %v)", d, err, pids)
		}
	}
	return nil
}

func readPids(file string) ([]int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		pids = append(pids, p)
	}
	return pids, nil
}

// writeFile writes value to a cgroup (or sysfs) file in one write(2), as
// the kernel wants.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(value))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

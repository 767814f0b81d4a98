package fs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

func callerHdr(node uint64) *fuse.InHeader {
	return &fuse.InHeader{NodeId: node, Caller: fuse.Caller{Pid: uint32(os.Getpid())}}
}

// lookupPath looks up each name below parent in turn and returns the last
// node ID.
func lookupPath(t *testing.T, f *FS, parent uint64, names ...string) uint64 {
	t.Helper()
	id := parent
	for _, name := range names {
		var out fuse.EntryOut
		if st := f.Lookup(nil, callerHdr(id), name, &out); !st.Ok() {
			t.Fatalf("lookup %s: %v", name, st)
		}
		id = out.NodeId
	}
	return id
}

// lookups is the count of dynamic node id, or -1 if it is not in the table.
func lookups(f *FS, id uint64) int {
	f.tree.mu.RLock()
	defer f.tree.mu.RUnlock()
	n, ok := f.tree.dyn[id]
	if !ok {
		return -1
	}
	return int(n.lookups)
}

func drainChanged(f *FS) {
	select {
	case <-f.NodesChanged():
	default:
	}
}

func changed(f *FS) bool {
	select {
	case <-f.NodesChanged():
		return true
	default:
		return false
	}
}

func TestForgetCgroupNode(t *testing.T) {
	tr, _ := fakeCgroupTree(t)
	f := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t), Cgroup: tr})
	mem := lookupPath(t, f, idCgroup, "memory")
	const n = 5
	var id uint64
	for range n {
		id = lookupPath(t, f, mem, "a")
	}
	if got := f.DynamicNodes(); got != 2 {
		t.Fatalf("%d dynamic nodes, want 2", got)
	}
	if got := lookups(f, id); got != n {
		t.Fatalf("count %d, want %d", got, n)
	}
	drainChanged(f)
	f.Forget(id, n-1)
	if f.tree.get(id) == nil || f.DynamicNodes() != 2 {
		t.Fatal("node removed while the kernel still holds it")
	}
	if changed(f) {
		t.Error("NodesChanged signalled without a change")
	}
	f.Forget(id, 1)
	if f.tree.get(id) != nil || f.DynamicNodes() != 1 {
		t.Fatalf("node still there after the last forget (%d nodes)", f.DynamicNodes())
	}
	if !changed(f) {
		t.Error("removal did not signal NodesChanged")
	}
	// The same path comes back with the same ID and a fresh count.
	if again := lookupPath(t, f, mem, "a"); again != id || lookups(f, id) != 1 {
		t.Errorf("looked up again: ID %d count %d, want %d and 1", again, lookups(f, id), id)
	}
	f.Forget(id, 1)
	f.Forget(mem, 1)
	if got := f.DynamicNodes(); got != 0 {
		t.Errorf("%d dynamic nodes after forgetting all, want 0", got)
	}
	// A FORGET for a node that is not there (any more) changes nothing.
	f.Forget(id, 1)
	f.Forget(fuse.FUSE_ROOT_ID, 1)
}

func TestForgetStatic(t *testing.T) {
	tr, _ := fakeCgroupTree(t)
	f := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t), Cgroup: tr})
	for _, id := range []uint64{idRoot, idProc, vfiles.Meminfo.Row().Node, idSysCPU, idCgroup} {
		f.Forget(id, 1)
		f.Forget(id, 1<<40)
		if f.tree.get(id) == nil {
			t.Errorf("static node %d removed by FORGET", id)
		}
	}
	if id := lookupPath(t, f, idRoot, "proc", "meminfo"); id != vfiles.Meminfo.Row().Node {
		t.Errorf("meminfo ID %d", id)
	}
}

// TestForgetUnderflow: a FORGET of more than was counted means the count
// was wrong; the node is kept for good.
func TestForgetUnderflow(t *testing.T) {
	f := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)})
	n := f.tree.sysNode(idSysCPU, "cpu0", kindSysDir, 0)
	f.Forget(n.id, 2)
	f.Forget(n.id, 1)
	if f.tree.get(n.id) == nil {
		t.Fatal("node removed after a FORGET of more than was counted")
	}
}

func TestListingsAddNoNodes(t *testing.T) {
	tr, root := fakeCgroupTree(t)
	const children = 200
	for i := range children {
		must(t, os.Mkdir(filepath.Join(root, fmt.Sprintf("a/b/d%03d", i)), 0o755))
	}
	f := New(Options{Content: &fakeContent{view: proc.CPUView{Host: []int{0, 1, 2, 3}}}, SysFS: fakeSys(t), Cgroup: tr})
	b := lookupPath(t, f, idCgroup, "memory", "a", "b")
	list := func(id uint64) []fuse.DirEntry {
		t.Helper()
		var out fuse.OpenOut
		if st := f.OpenDir(nil, &fuse.OpenIn{InHeader: *callerHdr(id)}, &out); !st.Ok() {
			t.Fatalf("opendir %d: %v", id, st)
		}
		defer f.ReleaseDir(&fuse.ReleaseIn{Fh: out.Fh})
		return f.handle(out.Fh).dir
	}
	before := f.DynamicNodes()
	es := list(b)
	if len(es) < children {
		t.Fatalf("listing has %d entries, want at least %d", len(es), children)
	}
	list(idCgroup)
	sysEs := list(idSysCPU)
	cpu0 := lookupPath(t, f, idSysCPU, "cpu0")
	list(cpu0)
	if got := f.DynamicNodes(); got != before+1 {
		t.Errorf("listings added nodes: %d dynamic nodes, want %d", got, before+1)
	}
	// A lookup of a listed name gets the listed inode number.
	check := func(parent uint64, es []fuse.DirEntry) {
		t.Helper()
		for _, e := range es {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			if id := lookupPath(t, f, parent, e.Name); id != e.Ino {
				t.Errorf("%s: lookup ID %d, listed %d", e.Name, id, e.Ino)
			}
		}
	}
	check(b, es)
	check(idSysCPU, sysEs)
	mem := lookupPath(t, f, idCgroup, "memory")
	for _, e := range list(idCgroup) {
		if e.Name == "memory" && e.Ino != mem {
			t.Errorf("cgroup/ lists memory as %d, lookup gives %d", e.Ino, mem)
		}
	}
}

func TestReplacementKeepsCount(t *testing.T) {
	f := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)})
	a := f.tree.dynNode(&node{kind: kindFile, file: vfiles.Meminfo, key: "test:r"})
	f.tree.dynNode(&node{kind: kindFile, file: vfiles.Meminfo, key: "test:r"})
	drainChanged(f)
	b := f.tree.dynNode(&node{kind: kindFile, file: vfiles.Stat, key: "test:r"})
	if b == a || b.id != a.id || f.tree.get(a.id) != b {
		t.Fatal("no replacement with the same ID")
	}
	if !changed(f) {
		t.Error("replacement did not signal NodesChanged")
	}
	if a.file != vfiles.Meminfo {
		t.Error("the old node was modified")
	}
	if got := lookups(f, b.id); got != 3 {
		t.Fatalf("count %d after replacement, want 3", got)
	}
	f.Forget(b.id, 2)
	if f.tree.get(b.id) != b {
		t.Fatal("replacement removed too early")
	}
	f.Forget(b.id, 1)
	if f.tree.get(b.id) != nil {
		t.Fatal("replacement not removed")
	}
	// A pinned node's replacement is pinned too.
	p := f.tree.dynNode(&node{kind: kindFile, file: vfiles.Meminfo, key: "test:p"})
	f.tree.mu.Lock()
	p.pinned = true
	f.tree.mu.Unlock()
	q := f.tree.dynNode(&node{kind: kindFile, file: vfiles.Stat, key: "test:p"})
	f.Forget(q.id, 2)
	if f.tree.get(q.id) != q {
		t.Error("the replacement of a pinned node was removed")
	}
}

func TestConcurrentLookupForget(t *testing.T) {
	tr, _ := fakeCgroupTree(t)
	f := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t), Cgroup: tr})
	mem := lookupPath(t, f, idCgroup, "memory")
	id := f.tree.dynID(cgroupNodeKey("memory", "/a"))
	const workers, rounds = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				var out fuse.EntryOut
				if st := f.Lookup(nil, callerHdr(mem), "a", &out); !st.Ok() || out.NodeId != id {
					errs <- fmt.Errorf("lookup: %v, ID %d want %d", st, out.NodeId, id)
					return
				}
				// The node must be there for as long as this worker
				// holds a lookup.
				var aout fuse.AttrOut
				if st := f.GetAttr(nil, &fuse.GetAttrIn{InHeader: *callerHdr(id)}, &aout); !st.Ok() {
					errs <- fmt.Errorf("getattr while held: %v", st)
					return
				}
				if i < rounds-1 {
					f.Forget(id, 1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := lookups(f, id); got != workers {
		t.Fatalf("count %d, want %d", got, workers)
	}
	f.Forget(id, workers)
	if f.tree.get(id) != nil {
		t.Error("node still there")
	}
}

// TestStateLookupCounts: a hand-over's counts are trusted, a crash
// snapshot's and an older binary's state are not: those nodes are pinned.
func TestStateLookupCounts(t *testing.T) {
	a := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)})
	n := a.tree.sysNode(idSysCPU, "cpu0", kindSysDir, 0)
	a.tree.sysNode(idSysCPU, "cpu0", kindSysDir, 0)
	a.tree.sysNode(idSysCPU, "cpu0", kindSysDir, 0)
	roundTrip := func(st *State) *FS {
		t.Helper()
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var got State
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		z := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)})
		if err := z.ImportState(&got); err != nil {
			t.Fatal(err)
		}
		return z
	}

	live := roundTrip(a.ExportState(true))
	if got := lookups(live, n.id); got != 3 {
		t.Fatalf("hand-over: count %d, want 3", got)
	}
	live.Forget(n.id, 2)
	if live.tree.get(n.id) == nil {
		t.Fatal("hand-over: removed too early")
	}
	live.Forget(n.id, 1)
	if live.tree.get(n.id) != nil {
		t.Fatal("hand-over: not removed at 0")
	}

	crash := roundTrip(a.ExportState(false))
	crash.Forget(n.id, 3)
	crash.Forget(n.id, 1<<40)
	if crash.tree.get(n.id) == nil {
		t.Fatal("crash snapshot: imported node removed by FORGET")
	}
	// Pinned stays pinned across a later hand-over.
	again := roundTrip(crash.ExportState(true))
	again.Forget(n.id, 1<<40)
	if again.tree.get(n.id) == nil {
		t.Fatal("pinned node removed after a second hand-over")
	}

	// A state from an older binary: no counts, no lookups_exact.
	old := fmt.Sprintf(`{"version":1,"handle_epoch":3,"nodes":[{"id":%d,"parent":%d,"name":"cpu0","kind":"sysdir","key":"sys:cpu0","rel":"cpu0"}]}`, n.id, idSysCPU)
	var st State
	must(t, json.Unmarshal([]byte(old), &st))
	z := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)})
	must(t, z.ImportState(&st))
	z.Forget(n.id, 1)
	if z.tree.get(n.id) == nil {
		t.Fatal("older binary's node removed by FORGET")
	}
	// A lookup adds to a pinned node's count but does not unpin it.
	z.tree.sysNode(idSysCPU, "cpu0", kindSysDir, 0)
	z.Forget(n.id, 1)
	if z.tree.get(n.id) == nil {
		t.Fatal("pinned node removed after a lookup and its forget")
	}

	// An older binary reads the new format: the fields it knows are
	// there, the new ones are ignored.
	type oldNodeState struct {
		ID   uint64 `json:"id"`
		Kind string `json:"kind"`
		Key  string `json:"key"`
	}
	type oldState struct {
		Version int            `json:"version"`
		Nodes   []oldNodeState `json:"nodes"`
	}
	b, err := json.Marshal(a.ExportState(true))
	must(t, err)
	var os oldState
	must(t, json.Unmarshal(b, &os))
	if os.Version != StateVersion || len(os.Nodes) != 1 || os.Nodes[0].ID != n.id || os.Nodes[0].Key != "sys:cpu0" {
		t.Errorf("an older binary reads %+v", os)
	}
}

// TestKernelForgetsCgroupNodes makes, stats and removes many cgroups
// through a mount, as container churn does. A regular FUSE mount keeps even
// TTL-0 dentries (and their inodes) until memory pressure, and dropping the
// caches would reach the whole host; but rmdir makes the kernel drop the
// removed directory's inode at once and send FORGET, on this mount only.
// The table must shrink back to what it was.
func TestKernelForgetsCgroupNodes(t *testing.T) {
	tr, _ := fakeCgroupTree(t)
	f := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t), Cgroup: tr})
	mnt, _ := mountFS(t, f)
	base := filepath.Join(mnt, "cgroup/memory/a/b")
	if _, err := os.Stat(base); err != nil {
		t.Fatal(err)
	}
	before := f.DynamicNodes()
	const paths = 300
	for i := range paths {
		d := filepath.Join(base, fmt.Sprintf("d%03d", i))
		must(t, os.Mkdir(d, 0o755))
		if _, err := os.Stat(d); err != nil {
			t.Fatal(err)
		}
	}
	// A listing must not add nodes either.
	if es, err := os.ReadDir(base); err != nil || len(es) < paths {
		t.Fatalf("readdir: %d entries, %v", len(es), err)
	}
	if got := f.DynamicNodes(); got < before+paths {
		t.Fatalf("%d dynamic nodes after making %d cgroups, want at least %d", got, paths, before+paths)
	}
	for i := range paths {
		must(t, os.Remove(filepath.Join(base, fmt.Sprintf("d%03d", i))))
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.DynamicNodes() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := f.DynamicNodes(); got != before {
		t.Errorf("%d dynamic nodes after the kernel forgot %d removed cgroups, want %d", got, paths, before)
	}
}

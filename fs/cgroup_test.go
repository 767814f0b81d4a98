package fs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lxcfs-go/lxcfs-go/cgrouptree"
	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// oneContainer puts every caller in cgroup path of every v1 hierarchy, with
// the test process as the reference process.
type oneContainer struct {
	ref  hostcgroup.Process
	path string
}

func (o oneContainer) ContainerInit(tid int) (ref, init hostcgroup.Process, err error) {
	return o.ref, o.ref, nil
}

func (o oneContainer) Cgroups(pid int) (hostcgroup.Cgroups, error) {
	return hostcgroup.Cgroups{V1: map[string]string{"memory": o.path}}, nil
}

// fakeCgroupTree is a memory hierarchy in a temporary directory with the
// caller in /a/b and a sibling /a/bc.
func fakeCgroupTree(t *testing.T) (*cgrouptree.Tree, string) {
	t.Helper()
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "a/b/c"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "a/bc"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "a/b/memory.max"), []byte("inside\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "a/b/c/memory.max"), []byte("max\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "a/bc/memory.max"), []byte("secret\n"), 0o644))
	b, err := os.ReadFile("/proc/self/stat")
	must(t, err)
	start, err := hostfs.ParseStatStartTicks(b)
	must(t, err)
	tr, err := cgrouptree.New(cgrouptree.Options{
		Layout: &hostcgroup.Layout{Kind: hostcgroup.LayoutV1, Hierarchies: []hostcgroup.Hierarchy{
			{Version: 1, Controllers: []string{"memory"}, MountPoint: root, Root: "/"},
		}},
		Resolver: oneContainer{ref: hostcgroup.Process{PID: os.Getpid(), StartTicks: start}, path: "/a/b"},
	})
	must(t, err)
	t.Cleanup(tr.Close)
	return tr, root
}

func TestCgroupTreeRaw(t *testing.T) {
	tr, _ := fakeCgroupTree(t)
	fs := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t), Cgroup: tr})
	hdr := func(node uint64) *fuse.InHeader {
		return &fuse.InHeader{NodeId: node, Caller: fuse.Caller{Pid: uint32(os.Getpid())}}
	}
	var out fuse.EntryOut
	if st := fs.Lookup(nil, hdr(idRoot), "cgroup", &out); !st.Ok() || out.NodeId != idCgroup {
		t.Fatalf("lookup cgroup: %v %d", st, out.NodeId)
	}
	id := uint64(idCgroup)
	for _, name := range []string{"memory", "a", "b", "memory.max"} {
		out = fuse.EntryOut{}
		if st := fs.Lookup(nil, hdr(id), name, &out); !st.Ok() {
			t.Fatalf("lookup %s: %v", name, st)
		}
		// Existence and modes differ by caller; the kernel's caches are
		// per mount.
		if out.EntryValid != 0 || out.EntryValidNsec != 0 || out.AttrValid != 0 || out.AttrValidNsec != 0 {
			t.Errorf("%s: entry TTL %d.%d, attr TTL %d.%d; want 0", name, out.EntryValid, out.EntryValidNsec, out.AttrValid, out.AttrValidNsec)
		}
		id = out.NodeId
	}
	n := fs.tree.get(id)
	if n == nil || n.key != "cg:memory:/a/b/memory.max" || n.kind != kindCgroupFile {
		t.Fatalf("node %+v", n)
	}
	// The same key gives the same ID in every daemon generation.
	fs2 := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t), Cgroup: tr})
	if m := fs2.cgroupNode(idCgroup, "memory", "/a/b/memory.max", false); m.id != id {
		t.Errorf("ID %d in a second FS, want %d", m.id, id)
	}
	var aout fuse.AttrOut
	if st := fs.GetAttr(nil, &fuse.GetAttrIn{InHeader: *hdr(id)}, &aout); !st.Ok() || aout.AttrValid != 0 {
		t.Errorf("getattr: %v, ttl %d", st, aout.AttrValid)
	}
	// A sibling that is a string-prefix of the caller's cgroup stays
	// invisible.
	var a uint64
	out = fuse.EntryOut{}
	fs.Lookup(nil, hdr(idCgroup), "memory", &out)
	out2 := fuse.EntryOut{}
	fs.Lookup(nil, hdr(out.NodeId), "a", &out2)
	a = out2.NodeId
	if st := fs.Lookup(nil, hdr(a), "bc", &fuse.EntryOut{}); st != fuse.ENOENT {
		t.Errorf("lookup a/bc: %v, want ENOENT", st)
	}
	// Requests without a pid (kernel-issued) see nothing.
	if st := fs.Lookup(nil, &fuse.InHeader{NodeId: a}, "b", &fuse.EntryOut{}); st.Ok() {
		t.Error("a lookup without a pid succeeded")
	}
}

func TestCgroupTreeDisabled(t *testing.T) {
	fs := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)})
	if st := fs.Lookup(nil, &fuse.InHeader{NodeId: idRoot}, "cgroup", &fuse.EntryOut{}); st != fuse.ENOENT {
		t.Errorf("lookup cgroup with the tree off: %v", st)
	}
	var out fuse.OpenOut
	if st := fs.OpenDir(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: idRoot}}, &out); !st.Ok() {
		t.Fatal(st)
	}
	for _, e := range fs.handle(out.Fh).dir {
		if e.Name == "cgroup" {
			t.Error("root lists cgroup with the tree off")
		}
	}
}

func TestCgroupTreeMounted(t *testing.T) {
	tr, root := fakeCgroupTree(t)
	mnt, _ := mountFS(t, New(Options{Content: &fakeContent{}, SysFS: fakeSys(t), Cgroup: tr}))
	ls := func(rel string) []string {
		t.Helper()
		es, err := os.ReadDir(filepath.Join(mnt, rel))
		if err != nil {
			t.Fatalf("ls %s: %v", rel, err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	for rel, want := range map[string][]string{
		"cgroup":            {"memory"},
		"cgroup/memory":     {"a"},
		"cgroup/memory/a":   {"b"},
		"cgroup/memory/a/b": {"c", "memory.max"},
	} {
		if got := ls(rel); !slices.Equal(got, want) {
			t.Errorf("ls %s = %q, want %q", rel, got, want)
		}
	}
	base := filepath.Join(mnt, "cgroup/memory/a")
	if _, err := os.Stat(filepath.Join(base, "bc/memory.max")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat a/bc/memory.max: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(base, "b/memory.max")); err != nil || string(b) != "inside\n" {
		t.Errorf("read: %q, %v", b, err)
	}
	must(t, os.WriteFile(filepath.Join(base, "b/c/memory.max"), []byte("1234"), 0o644))
	if b, _ := os.ReadFile(filepath.Join(root, "a/b/c/memory.max")); string(b) != "1234" {
		t.Errorf("real file after a write through the view: %q", b)
	}
	must(t, os.Mkdir(filepath.Join(base, "b/new"), 0o755))
	if st, err := os.Stat(filepath.Join(root, "a/b/new")); err != nil || !st.IsDir() {
		t.Errorf("mkdir did not reach the real tree: %v", err)
	}
	if err := os.Mkdir(filepath.Join(base, "sibling"), 0o755); !errors.Is(err, syscall.EPERM) {
		t.Errorf("mkdir of a sibling: %v, want EPERM", err)
	}
	must(t, os.Remove(filepath.Join(base, "b/new")))
	if _, err := os.Stat(filepath.Join(root, "a/b/new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rmdir did not reach the real tree: %v", err)
	}
	if err := os.Remove(filepath.Join(base, "b")); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("rmdir of the caller's own cgroup: %v, want EBUSY", err)
	}
}

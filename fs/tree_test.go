package fs

import (
	"path"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// frozenIDs are the node IDs of the static tree as released: a successor
// daemon imports its predecessor's table and running containers hold these
// IDs in their bind mounts, so none may ever change. A new static file or
// directory adds a line.
var frozenIDs = map[string]uint64{
	"":                        1,
	"proc":                    2,
	"proc/cpuinfo":            3,
	"proc/diskstats":          4,
	"proc/loadavg":            5,
	"proc/meminfo":            6,
	"proc/slabinfo":           7,
	"proc/stat":               8,
	"proc/swaps":              9,
	"proc/uptime":             10,
	"proc/pressure":           11,
	"proc/pressure/cpu":       12,
	"proc/pressure/io":        13,
	"proc/pressure/memory":    14,
	"sys":                     15,
	"sys/devices":             16,
	"sys/devices/system":      17,
	"sys/devices/system/cpu":  18,
	"sys/devices/system/node": 20,
	"sys/block":               21,
}

// staticPaths walks the static tree from the root: path to node.
func staticPaths(t *testing.T, tr *tree) map[string]*node {
	t.Helper()
	out := map[string]*node{}
	var walk func(p string, n *node)
	walk = func(p string, n *node) {
		if _, dup := out[p]; dup {
			t.Fatalf("%q twice in the static tree", p)
		}
		out[p] = n
		for _, id := range n.children {
			c := tr.static[id]
			if c.parent != n.id {
				t.Errorf("%s/%s: parent %d, listed in %d", p, c.name, c.parent, n.id)
			}
			walk(path.Join(p, c.name), c)
		}
	}
	walk("", tr.static[idRoot])
	return out
}

func TestStaticTree(t *testing.T) {
	tr := newTree()
	nodes := staticPaths(t, tr)
	got := map[string]uint64{}
	for p, n := range nodes {
		got[p] = n.id
	}
	if diff := cmp.Diff(frozenIDs, got); diff != "" {
		t.Errorf("static node IDs changed (-frozen +now):\n%s", diff)
	}
	if len(nodes) != len(tr.static) {
		t.Errorf("%d static nodes, %d reachable from the root", len(tr.static), len(nodes))
	}
	// Every file of the table is in the tree, a static node or a file of
	// the sys cpu mirror.
	for _, r := range vfiles.Rows() {
		if r.Node == 0 {
			if d, _ := path.Split(r.Path); !slices.Contains([]string{vfiles.CPUDir + "/", vfiles.CPUDir + "/cpuN/"}, d) {
				t.Errorf("%s has no node ID and is not in the sys cpu mirror", r.Path)
			}
			continue
		}
		n := nodes[r.Path]
		if n == nil || n.kind != kindFile || n.file != r.File {
			t.Errorf("%s: node %+v, want the file %v", r.Path, n, r.File)
		}
	}
	// lxcfs's readdir order.
	for dir, want := range map[string][]string{
		"":                   {"proc", "sys"},
		"proc":               {"cpuinfo", "meminfo", "stat", "uptime", "diskstats", "swaps", "loadavg", "slabinfo", "pressure"},
		"proc/pressure":      {"cpu", "io", "memory"},
		"sys":                {"devices", "block"},
		"sys/devices/system": {"cpu", "node"},
	} {
		var names []string
		for _, id := range nodes[dir].children {
			names = append(names, tr.static[id].name)
		}
		if !slices.Equal(names, want) {
			t.Errorf("%q lists %v, want %v", dir, names, want)
		}
	}
}

func TestClassifyVirtual(t *testing.T) {
	f := New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)})
	for rel, want := range map[string]vfiles.File{
		"online":      vfiles.CPUOnline,
		"possible":    vfiles.CPUPossible,
		"present":     vfiles.CPUPresent,
		"offline":     vfiles.CPUOffline,
		"cpu0/online": vfiles.CPUNOnline, // the host's cpu0 has none
		"cpu3/online": vfiles.CPUNOnline,
	} {
		kind, file, st := f.classify(rel)
		if !st.Ok() || kind != kindFile || file != want {
			t.Errorf("classify(%q) = %v, %v, %v; want the file %v", rel, kind, file, st, want)
		}
	}
	for rel, want := range map[string]nodeKind{
		"kernel_max":           kindSysFile,
		"cpu1":                 kindSysDir,
		"cpu1/topology":        kindSysDir,
		"cpu1/subsystem":       kindSysLink,
		"cpu1/topology/online": 0, // absent on the host, and no virtual file
	} {
		kind, _, st := f.classify(rel)
		if kind != want || st.Ok() != (want != 0) {
			t.Errorf("classify(%q) = %v, %v; want %v", rel, kind, st, want)
		}
	}
}

package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// memContent serves a fixed container meminfo and a CPU view.
type memContent struct{ fakeContent }

func (m *memContent) Render(dst []byte, f vfiles.File, tid int) ([]byte, error) {
	if f == vfiles.Meminfo {
		return append(dst, "MemTotal:         262144 kB\nMemFree:          200000 kB\n"...), nil
	}
	return m.fakeContent.Render(dst, f, tid)
}

// fakeNodes adds three NUMA nodes to a fake sysfs: node0 with CPUs 0-1,
// node1 with 2-3, node2 with memory only.
func fakeNodes(t *testing.T, sys string) {
	t.Helper()
	node := filepath.Join(sys, "devices/system/node")
	for n, cpus := range map[int][]int{0: {0, 1}, 1: {2, 3}, 2: nil} {
		d := filepath.Join(node, fmt.Sprintf("node%d", n))
		must(t, os.MkdirAll(filepath.Join(d, "hugepages"), 0o755))
		list, mask := "", 0
		for _, c := range cpus {
			list += fmt.Sprintf(",%d", c)
			mask |= 1 << c
			must(t, os.Symlink(fmt.Sprintf("../../cpu/cpu%d", c), filepath.Join(d, fmt.Sprintf("cpu%d", c))))
		}
		list = strings.TrimPrefix(list, ",")
		must(t, os.WriteFile(filepath.Join(d, "cpulist"), []byte(list+"\n"), 0o444))
		must(t, os.WriteFile(filepath.Join(d, "cpumap"), fmt.Appendf(nil, "%x\n", mask), 0o444))
		must(t, os.WriteFile(filepath.Join(d, "distance"), []byte("10 20 20\n"), 0o444))
		must(t, os.WriteFile(filepath.Join(d, "meminfo"), fmt.Appendf(nil,
			"Node %d MemTotal:       8000000 kB\nNode %d MemFree:        7000000 kB\nNode %d MemUsed:        1000000 kB\nNode %d Bounce:             5 kB\n", n, n, n, n), 0o444))
	}
	for name, v := range map[string]string{"online": "0-2\n", "possible": "0-3\n", "has_cpu": "0-1\n", "has_memory": "0-2\n", "has_generic_initiator": "\n"} {
		must(t, os.WriteFile(filepath.Join(node, name), []byte(v), 0o444))
	}
}

// TestSysNode: the node tree shows the nodes that hold the caller's CPUs,
// its CPUs and memory on them, and the host's files otherwise.
func TestSysNode(t *testing.T) {
	sys := fakeSys(t)
	fakeNodes(t, sys)
	c := &memContent{fakeContent{view: proc.CPUView{Host: []int{1, 3}}}}
	mnt, _ := mountFS(t, New(Options{Content: c, SysFS: sys}))
	node := filepath.Join(mnt, "sys/devices/system/node")
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(node, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	list := func(rel string) []string {
		t.Helper()
		des, err := os.ReadDir(filepath.Join(node, rel))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		return names
	}
	if got := list(""); slices.Contains(got, "node2") || !slices.Contains(got, "node0") || !slices.Contains(got, "node1") {
		t.Errorf("node directory lists %v, want node0 and node1, not node2", got)
	}
	if _, err := os.Stat(filepath.Join(node, "node2")); !os.IsNotExist(err) {
		t.Errorf("node2: %v, want ENOENT", err)
	}
	for rel, want := range map[string]string{
		"online": "0-1\n", "possible": "0-1\n", "has_cpu": "0-1\n", "has_memory": "0-1\n", "has_generic_initiator": "\n",
		"node0/cpulist": "1\n", "node0/cpumap": "2\n", "node1/cpulist": "3\n", "node1/cpumap": "8\n",
		"node0/distance": "10 20 20\n",
	} {
		if got := read(rel); got != want {
			t.Errorf("%s = %q, want %q", rel, got, want)
		}
	}
	if got := list("node0"); slices.Contains(got, "cpu0") || !slices.Contains(got, "cpu1") {
		t.Errorf("node0 lists %v, want cpu1 and not cpu0", got)
	}
	if target, err := os.Readlink(filepath.Join(node, "node0/cpu1")); err != nil || target != "../../cpu/cpu1" {
		t.Errorf("node0/cpu1 -> %q, %v", target, err)
	}
	// Two visible nodes of equal size: half of the container's memory each.
	want := "Node 1 MemTotal:        131072 kB\nNode 1 MemFree:         100000 kB\nNode 1 MemUsed:          31072 kB\nNode 1 Bounce:             0 kB\n"
	if got := read("node1/meminfo"); got != want {
		t.Errorf("node1/meminfo =\n%s\nwant\n%s", got, want)
	}
	if err := os.WriteFile(filepath.Join(node, "node0/distance"), []byte("1"), 0); err == nil {
		t.Error("a node file was writable")
	}
}

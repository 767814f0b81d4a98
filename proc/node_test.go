package proc

import (
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

func TestNodeFiles(t *testing.T) {
	t.Parallel()
	set := func(s string) hostcgroup.CPUSet {
		c, err := hostcgroup.ParseCPUSet(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Host CPUs 4-7 on node 1; the container has 5 and 7.
	v := CPUView{Host: []int{1, 5, 7}}
	if got := NodeViewCPUs(set("4-7"), v); len(got) != 2 || got[0] != 5 || got[1] != 7 {
		t.Errorf("NodeViewCPUs = %v, want [5 7]", got)
	}
	// Renumbered (--enable-cfs): the container's numbers.
	if got := NodeViewCPUs(set("4-7"), CPUView{Host: []int{1, 5, 7}, Renumber: true}); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("renumbered NodeViewCPUs = %v, want [1 2]", got)
	}
	for _, tc := range []struct{ name, host, want string }{
		{"restricted", "0-3\n", "1,3\n"},
		{"empty host list", "\n", "\n"},
		{"garbage", "x\n", "1,3\n"},
	} {
		if got := string(NodeList(nil, []byte(tc.host), []int{1, 3})); got != tc.want {
			t.Errorf("NodeList %s = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := string(NodeCPUList(nil, []int{5, 7})); got != "5,7\n" {
		t.Errorf("NodeCPUList = %q", got)
	}
	for _, tc := range []struct {
		host string
		cpus []int
		want string
	}{
		{"3\n", []int{1}, "2\n"},
		{"ff\n", []int{0, 5}, "21\n"},
		{"00000000,000000ff\n", []int{33, 4}, "00000002,00000010\n"},
		{"0f\n", []int{9}, "00\n"}, // beyond the host's width: left out
		{"", []int{5}, "20\n"},
	} {
		if got := string(NodeCPUMap(nil, []byte(tc.host), tc.cpus)); got != tc.want {
			t.Errorf("NodeCPUMap(%q, %v) = %q, want %q", tc.host, tc.cpus, got, tc.want)
		}
	}
}

func TestNodeMeminfo(t *testing.T) {
	t.Parallel()
	host := "Node 0 MemTotal:       24683772 kB\n" +
		"Node 0 MemFree:        21416928 kB\n" +
		"Node 0 MemUsed:         3266844 kB\n" +
		"Node 0 Active(file):    1572852 kB\n" +
		"Node 0 FilePages:       2346600 kB\n" +
		"Node 0 Bounce:                7 kB\n" +
		"Node 0 HugePages_Total:     4\n" +
		"garbage\n"
	ct := "MemTotal:         262144 kB\nMemFree:          200000 kB\nActive(file):      10000 kB\n" +
		"Cached:            30000 kB\nBuffers:               0 kB\nSwapCached:           16 kB\n"
	want := "Node 0 MemTotal:         262144 kB\n" +
		"Node 0 MemFree:          200000 kB\n" +
		"Node 0 MemUsed:           62144 kB\n" +
		"Node 0 Active(file):      10000 kB\n" +
		"Node 0 FilePages:         30016 kB\n" +
		"Node 0 Bounce:                0 kB\n" +
		"Node 0 HugePages_Total:     4\n"
	if got := string(NodeMeminfo(nil, []byte(host), []byte(ct), 1)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Half of it on this node; MemUsed stays MemTotal - MemFree.
	got := string(NodeMeminfo(nil, []byte(host), []byte(ct), 0.5))
	if want := "Node 0 MemTotal:         131072 kB\nNode 0 MemFree:          100000 kB\nNode 0 MemUsed:           31072 kB\n"; got[:len(want)] != want {
		t.Errorf("half: got\n%s", got)
	}
	// Garbage never panics.
	NodeMeminfo(nil, []byte("Node 0 X: \nNode:\n:::\nNode 0 MemTotal: 99999999999999999999999 kB\n"), []byte("MemTotal: x\n:\n"), 0.3)
}

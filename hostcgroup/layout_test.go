package hostcgroup

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

func mustMounts(t *testing.T, s string) []hostfs.Mount {
	t.Helper()
	m, err := hostfs.ParseMountinfo(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDetectLayout(t *testing.T) {
	controllers := map[string][]string{
		"/sys/fs/cgroup":         {"cpuset", "cpu", "io", "memory", "pids"},
		"/sys/fs/cgroup/unified": nil,
		"/run/other":             {"pids"},
	}
	read := func(mp string) ([]string, error) {
		c, ok := controllers[mp]
		if !ok {
			return nil, errors.New("unexpected mount point " + mp)
		}
		return c, nil
	}
	tests := []struct {
		name    string
		in      string
		want    *Layout
		wantErr error
	}{
		{
			name: "v1 with co-mounted cpu,cpuacct, named and container copies",
			in: "24 23 0:22 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755\n" +
				"25 24 0:23 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n" +
				"26 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
				"61 60 0:26 /lxc/c1 /var/lib/lxc/c1/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"28 24 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"62 60 0:24 / /var/lib/lxc/c1/rootfs/sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n" +
				"63 24 0:30 / /sys/fs/cgroup/unnamed rw - cgroup cgroup rw,none\n",
			want: &Layout{
				Kind: LayoutV1,
				Hierarchies: []Hierarchy{
					{Version: 1, Controllers: []string{"name=systemd"}, MountPoint: "/sys/fs/cgroup/systemd", Root: "/"},
					{Version: 1, Controllers: []string{"cpu", "cpuacct"}, MountPoint: "/sys/fs/cgroup/cpu,cpuacct", Root: "/"},
					{Version: 1, Controllers: []string{"memory"}, MountPoint: "/sys/fs/cgroup/memory", Root: "/"},
				},
			},
		},
		{
			name: "hybrid with separate cpu and cpuacct",
			in: "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n" +
				"33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n" +
				"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,none,name=systemd\n" +
				"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
			want: &Layout{
				Kind: LayoutHybrid,
				Hierarchies: []Hierarchy{
					{Version: 1, Controllers: []string{"cpu"}, MountPoint: "/sys/fs/cgroup/cpu", Root: "/"},
					{Version: 1, Controllers: []string{"cpuacct"}, MountPoint: "/sys/fs/cgroup/cpuacct", Root: "/"},
					{Version: 1, Controllers: []string{"name=systemd"}, MountPoint: "/sys/fs/cgroup/systemd", Root: "/"},
				},
				Unified: &Hierarchy{Version: 2, MountPoint: "/sys/fs/cgroup/unified", Root: "/"},
			},
		},
		{
			name: "v2 preferred at /sys/fs/cgroup over earlier cgroup2 mounts",
			in: "50 21 0:40 /lxc/c1 /var/lib/lxc/c1/rootfs/sys/fs/cgroup rw - cgroup2 cgroup2 rw\n" +
				"51 21 0:40 / /run/other rw - cgroup2 cgroup2 rw\n" +
				"24 23 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
			want: &Layout{
				Kind:    LayoutV2,
				Unified: &Hierarchy{Version: 2, Controllers: []string{"cpuset", "cpu", "io", "memory", "pids"}, MountPoint: "/sys/fs/cgroup", Root: "/"},
			},
		},
		{
			name: "only a sub-cgroup is mounted",
			in:   "61 60 0:26 /lxc/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			want: &Layout{
				Kind:        LayoutV1,
				Hierarchies: []Hierarchy{{Version: 1, Controllers: []string{"memory"}, MountPoint: "/sys/fs/cgroup/memory", Root: "/lxc/c1"}},
			},
		},
		{
			name: "a \"/\"-rooted cgroup2 mount elsewhere beats a sub-cgroup one",
			in: "50 21 0:40 /lxc/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n" +
				"51 21 0:40 / /run/other rw - cgroup2 cgroup2 rw\n",
			want: &Layout{
				Kind:    LayoutV2,
				Unified: &Hierarchy{Version: 2, Controllers: []string{"pids"}, MountPoint: "/run/other", Root: "/"},
			},
		},
		{
			name:    "no cgroups",
			in:      "22 21 0:20 / /proc rw - proc proc rw\n",
			wantErr: ErrNoController,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectLayout(mustMounts(t, tt.in), read)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDetectLayoutControllerError(t *testing.T) {
	mounts := mustMounts(t, "24 23 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
	boom := errors.New("boom")
	_, err := DetectLayout(mounts, func(string) ([]string, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	l, err := DetectLayout(mounts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Unified == nil || l.Unified.Controllers != nil {
		t.Errorf("Unified = %+v, want no controllers", l.Unified)
	}
}

func TestForController(t *testing.T) {
	hybrid := &Layout{
		Kind: LayoutHybrid,
		Hierarchies: []Hierarchy{
			{Version: 1, Controllers: []string{"cpu", "cpuacct"}, MountPoint: "/c"},
			{Version: 1, Controllers: []string{"name=systemd"}, MountPoint: "/s"},
		},
		Unified: &Hierarchy{Version: 2, Controllers: []string{"memory"}, MountPoint: "/u"},
	}
	v2 := &Layout{Kind: LayoutV2, Unified: &Hierarchy{Version: 2, Controllers: []string{"cpu", "memory"}, MountPoint: "/u"}}
	tests := []struct {
		l    *Layout
		name string
		want string // mount point, "" for nil
	}{
		{hybrid, "cpu", "/c"},
		{hybrid, "cpuacct", "/c"},
		{hybrid, "name=systemd", "/s"},
		{hybrid, "memory", "/u"}, // a controller not bound to v1 is on v2
		{hybrid, "cpuset", ""},
		{hybrid, "systemd", ""},
		{v2, "cpu", "/u"},
		{v2, "memory", "/u"},
		{v2, "cpuacct", ""},
		{v2, "cpuset", ""},
		{nil, "cpu", ""},
	}
	for _, tt := range tests {
		h := tt.l.ForController(tt.name)
		got := ""
		if h != nil {
			got = h.MountPoint
		}
		if got != tt.want {
			t.Errorf("ForController(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLayoutKindString(t *testing.T) {
	for k, want := range map[LayoutKind]string{LayoutV1: "v1", LayoutHybrid: "hybrid", LayoutV2: "v2", 0: "LayoutKind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestRelativeTo(t *testing.T) {
	tests := []struct {
		p, root string
		want    string
		ok      bool
	}{
		{"/", "/", "/", true},
		{"/lxc/c1", "/", "/lxc/c1", true},
		{"/lxc/c1", "/lxc/c1", "/", true},
		{"/lxc/c1/sub", "/lxc/c1", "/sub", true},
		{"/lxc/c10", "/lxc/c1", "", false}, // components, not string prefix
		{"/other", "/lxc/c1", "", false},
		{"/../../x", "/", "", false},
		{"/a/./b", "/", "", false},
		{"/a//b", "/", "", false},
		{"/a/", "/", "", false},
		{"a", "/", "", false},
		{"", "/", "", false},
	}
	for _, tt := range tests {
		got, ok := relativeTo(tt.p, tt.root)
		if got != tt.want || ok != tt.ok {
			t.Errorf("relativeTo(%q, %q) = %q, %v; want %q, %v", tt.p, tt.root, got, ok, tt.want, tt.ok)
		}
	}
}

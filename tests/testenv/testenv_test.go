package testenv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) { Main(m) }

func TestParseLayout(t *testing.T) {
	tests := []struct {
		name      string
		mountinfo string
		want      Layout
		pureV2    bool
	}{
		{
			name: "hybrid, cpu and cpuacct separate",
			mountinfo: `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
			want: Layout{
				V1: map[string]string{
					"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct",
					"cpuset": "/sys/fs/cgroup/cpuset", "memory": "/sys/fs/cgroup/memory",
					"blkio": "/sys/fs/cgroup/blkio", "name=systemd": "/sys/fs/cgroup/systemd",
				},
				Unified: "/sys/fs/cgroup/unified",
			},
		},
		{
			name: "v1, cpu,cpuacct co-mounted, a bind mount of a subtree",
			mountinfo: `25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
90 80 0:23 /lxc/ct1 /var/lib/lxc/ct1/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
`,
			want: Layout{V1: map[string]string{
				"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
				"memory": "/sys/fs/cgroup/memory",
			}},
		},
		{
			name: "pure v2, mount point with an escaped space",
			mountinfo: `30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
31 23 0:27 / /tmp/my\040dir rw - tmpfs tmpfs rw
`,
			want:   Layout{V1: map[string]string{}, Unified: "/sys/fs/cgroup"},
			pureV2: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLayout(strings.NewReader(tt.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseLayout (-want +got):\n%s", diff)
			}
			if got.PureV2() != tt.pureV2 {
				t.Errorf("PureV2() = %v, want %v", got.PureV2(), tt.pureV2)
			}
		})
	}
}

func TestParseMountinfoUnescapes(t *testing.T) {
	ms, err := ParseMountinfo(strings.NewReader(`31 23 0:27 / /tmp/my\040dir\134x rw - fuse.lxcfs lxcfs-go rw,user_id=0` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{{Root: "/", MountPoint: `/tmp/my dir\x`, FSType: "fuse.lxcfs", Source: "lxcfs-go", SuperOptions: []string{"rw", "user_id=0"}}}
	if diff := cmp.Diff(want, ms); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParseMountinfo(strings.NewReader("garbage\n")); err == nil {
		t.Error("ParseMountinfo accepted a line without a separator")
	}
}

// TestCgroupLifecycle creates a nested cgroup with limits, runs readers in
// it, and checks that cleanup removed every directory.
func TestCgroupLifecycle(t *testing.T) {
	RequireRoot(t)
	RequireCPUs(t, 2)
	var dirs []string
	t.Run("use", func(t *testing.T) {
		cg := NewCgroup(t, CgroupOptions{})
		cg.MemoryLimit(256<<20).CPUs("1").CPUQuota(50000, 100000)
		leaf := cg.Child("a/b")
		leaf.MemoryLimit(128 << 20)
		for _, c := range DefaultControllers {
			dirs = append(dirs, cg.Path(c), leaf.Path(c))
		}

		out, stderr, err := leaf.Run("cat", "/proc/self/cgroup")
		if err != nil {
			t.Fatalf("reader: %v: %s", err, stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 {
				t.Fatalf("bad /proc/self/cgroup line %q", line)
			}
			ours := f[0] == "0" && f[1] == ""
			for _, c := range strings.Split(f[1], ",") {
				ours = ours || slices.Contains([]string{"memory", "cpuset", "cpu", "cpuacct", "blkio"}, c)
			}
			if ours && f[2] != leaf.Rel() {
				t.Errorf("reader is in %q for %q, want %q", f[2], f[1], leaf.Rel())
			}
		}

		// The helper-mode reader sees the same, and its cpuset.
		res, err := leaf.Do(Read("/proc/self/status"), Readdir("/proc/self/fd"), Stat("/proc/self/nope"))
		if err != nil {
			t.Fatal(err)
		}
		status := string(res[0].Data[0])
		if !strings.Contains(status, "Cpus_allowed_list:\t1\n") {
			t.Errorf("reader's status has no Cpus_allowed_list 1:\n%s", status)
		}
		if names := res[1].Names; len(names) < 3 || names[0] != "." && names[1] != "." {
			t.Errorf("raw readdir of /proc/self/fd = %q, want . and .. included", names)
		}
		if !errors.Is(res[2].Error(), fs.ErrNotExist) {
			t.Errorf("stat of a missing file: %v, want ENOENT", res[2].Error())
		}
		if got := leaf.Procs(); len(got) != 0 {
			t.Errorf("cgroup still has processes %v after the reader exited", got)
		}
		if got, want := cg.Get("memory", memLimitFile(cg)), "268435456"; got != want {
			t.Errorf("memory limit = %s, want %s", got, want)
		}
		if u := cg.CPUUsage(); u <= 0 {
			t.Errorf("CPUUsage = %v after running readers, want > 0", u)
		}

		// A process left running is killed by the cleanup.
		if _, err := leaf.Start(nil, nil, "sleep", "infinity"); err != nil {
			t.Fatal(err)
		}
	})
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after cleanup (%v)", d, err)
		}
	}
}

func memLimitFile(cg *Cgroup) string {
	if cg.V2("memory") {
		return "memory.max"
	}
	return "memory.limit_in_bytes"
}

// TestContainer starts an init in a new pid namespace and runs readers
// inside that namespace in other cgroups.
func TestContainer(t *testing.T) {
	RequireRoot(t)
	cg := NewCgroup(t, CgroupOptions{})
	sub := cg.Child("sub")
	ct := StartContainer(t, cg, ContainerOptions{CgroupNS: true, MountNS: true})

	res, err := ct.Do(sub, Read("/proc/self/status"), Read("/proc/self/cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	var nspid []string
	for _, line := range strings.Split(string(res[0].Data[0]), "\n") {
		if f, ok := strings.CutPrefix(line, "NSpid:"); ok {
			nspid = strings.Fields(f)
		}
	}
	if len(nspid) != 2 || nspid[1] == "1" {
		t.Errorf("reader NSpid = %q, want two levels and not the init", nspid)
	}
	if !strings.Contains(string(res[1].Data[0]), ":"+sub.Rel()+"\n") {
		t.Errorf("reader's /proc/self/cgroup does not name %s:\n%s", sub.Rel(), res[1].Data[0])
	}
	initCg, err := os.ReadFile(filepath.Join("/proc", itoa(ct.PID), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(initCg), ":"+cg.Rel()+"\n") {
		t.Errorf("init's cgroup does not name %s:\n%s", cg.Rel(), initCg)
	}
	nsOf := func(pid, ns string) string {
		l, err := os.Readlink(filepath.Join("/proc", pid, "ns", ns))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if nsOf(itoa(ct.PID), "cgroup") == nsOf("self", "cgroup") {
		t.Error("init shares the test's cgroup namespace despite CgroupNS")
	}
	if nsOf(itoa(ct.PID), "pid") == nsOf("self", "pid") {
		t.Error("init shares the test's pid namespace")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestReference installs the reference lxcfs if needed, mounts a private
// instance and reads meminfo from a limited cgroup through it.
func TestReference(t *testing.T) {
	RequireMountAndCgroups(t)
	ref := StartReference(t)
	t.Logf("reference lxcfs %s", ReferenceVersion(t))
	cg := NewCgroup(t, CgroupOptions{})
	cg.MemoryLimit(256 << 20)
	meminfo := cg.MustRead(ref.Path("proc/meminfo"))
	if !strings.Contains(meminfo, "\nMemTotal:") && !strings.HasPrefix(meminfo, "MemTotal:") {
		t.Fatalf("no MemTotal in reference meminfo:\n%s", meminfo)
	}
	if !strings.HasPrefix(meminfo, "MemTotal:         262144 kB\n") {
		t.Errorf("reference meminfo from a 256 MiB cgroup starts %q", strings.SplitN(meminfo, "\n", 2)[0])
	}
	if err := ref.Stop(); err != nil {
		t.Errorf("stopping the reference: %v", err)
	}
	if ref.Mounted() {
		t.Error("reference still mounted after Stop")
	}
}

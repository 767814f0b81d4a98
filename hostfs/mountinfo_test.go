package hostfs

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMountinfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []Mount
		wantErr error
	}{
		{
			name: "hybrid host",
			in: "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
				"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:5 - cgroup cgroup rw,cpu\n" +
				"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:9 master:2 - cgroup cgroup rw,xattr,name=systemd\n" +
				"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
			want: []Mount{
				{MountID: 31, ParentID: 23, Dev: "0:28", Root: "/", MountPoint: "/sys/fs/cgroup", Options: []string{"rw", "relatime"}, FSType: "tmpfs", Source: "tmpfs", SuperOptions: []string{"rw", "mode=755"}},
				{MountID: 32, ParentID: 31, Dev: "0:29", Root: "/", MountPoint: "/sys/fs/cgroup/cpu", Options: []string{"rw", "relatime"}, Optional: []string{"shared:5"}, FSType: "cgroup", Source: "cgroup", SuperOptions: []string{"rw", "cpu"}},
				{MountID: 40, ParentID: 31, Dev: "0:37", Root: "/", MountPoint: "/sys/fs/cgroup/systemd", Options: []string{"rw", "relatime"}, Optional: []string{"shared:9", "master:2"}, FSType: "cgroup", Source: "cgroup", SuperOptions: []string{"rw", "xattr", "name=systemd"}},
				{MountID: 41, ParentID: 31, Dev: "0:38", Root: "/", MountPoint: "/sys/fs/cgroup/unified", Options: []string{"rw", "relatime"}, FSType: "cgroup2", Source: "cgroup2", SuperOptions: []string{"rw", "nsdelegate"}},
			},
		},
		{
			name: "octal escapes in root and mount point",
			in:   `70 21 0:26 /lxc/my\040ct /mnt/a\011b\134c\012d rw - cgroup cgroup rw,memory` + "\n",
			want: []Mount{{MountID: 70, ParentID: 21, Dev: "0:26", Root: "/lxc/my ct", Options: []string{"rw"}, MountPoint: "/mnt/a\tb\\c\nd", FSType: "cgroup", Source: "cgroup", SuperOptions: []string{"rw", "memory"}}},
		},
		{
			name: "bad escapes are kept verbatim",
			in:   `70 21 0:26 / /mnt/a\9bc\4\777 rw - tmpfs tmpfs rw` + "\n",
			want: []Mount{{MountID: 70, ParentID: 21, Dev: "0:26", Root: "/", MountPoint: `/mnt/a\9bc\4\777`, Options: []string{"rw"}, FSType: "tmpfs", Source: "tmpfs", SuperOptions: []string{"rw"}}},
		},
		{
			name: "empty source and blank lines",
			in:   "\n80 21 0:50 / /mnt rw,relatime - fuse.lxcfs  rw,user_id=0\n\n",
			want: []Mount{{MountID: 80, ParentID: 21, Dev: "0:50", Root: "/", MountPoint: "/mnt", Options: []string{"rw", "relatime"}, FSType: "fuse.lxcfs", Source: "", SuperOptions: []string{"rw", "user_id=0"}}},
		},
		{name: "empty", in: "", want: nil},
		{name: "no separator", in: "31 23 0:28 / /sys/fs/cgroup rw,relatime tmpfs tmpfs rw\n", wantErr: ErrParse},
		{name: "too few fields", in: "31 23 / /x - tmpfs tmpfs rw\n", wantErr: ErrParse},
		{name: "bad mount id", in: "x 23 0:28 / /x rw - tmpfs tmpfs rw\n", wantErr: ErrParse},
		{name: "bad parent id", in: "31 y 0:28 / /x rw - tmpfs tmpfs rw\n", wantErr: ErrParse},
		{name: "nothing after separator", in: "31 23 0:28 / /x rw - tmpfs\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMountinfo(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mounts (-want +got):\n%s", diff)
			}
		})
	}
}

// ReadMountinfo reads the real file; every line of it parses.
func TestReadMountinfoSelf(t *testing.T) {
	t.Parallel()
	ms, err := ReadMountinfo("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	root := false
	for _, m := range ms {
		root = root || m.MountPoint == "/"
		if m.Dev == "" || !strings.Contains(m.Dev, ":") {
			t.Errorf("mount %d: dev %q is not maj:min", m.MountID, m.Dev)
		}
	}
	if !root {
		t.Error("no mount at /")
	}
	if _, err := ReadMountinfo(t.TempDir() + "/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

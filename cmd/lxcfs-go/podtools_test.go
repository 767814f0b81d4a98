package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// Tests of the subcommands a pod runs instead of a distribution's tools:
// ready, unmount, host-cgroupns.

func TestPodToolsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"ready", "--timeout"}, 2, "needs a value"},
		{[]string{"ready", "--timeout", "soon"}, 2, "not a positive duration"},
		{[]string{"ready", "--timeout=-1s"}, 2, "not a positive duration"},
		{[]string{"ready", "--file", "/proc/uptime"}, 2, "not a path below"},
		{[]string{"ready", "--file", "../x"}, 2, "not a path below"},
		{[]string{"ready", "--bogus"}, 2, "unknown option"},
		{[]string{"ready", "/a", "/b"}, 2, "one mount point"},
		{[]string{"unmount", "/a", "/b"}, 2, "want one mount point"},
		{[]string{"unmount", "-x"}, 2, "want one mount point"},
		{[]string{"host-cgroupns"}, 2, "nothing to run"},
		{[]string{"host-cgroupns", "--from", "x", "--", "-v"}, 2, "not a pid"},
		{[]string{"host-cgroupns", "--from"}, 2, "needs a value"},
		{[]string{"host-cgroupns", "--what", "--", "-v"}, 2, "unknown option"},
		{[]string{"host-cgroupns", "--exec", "no-such-program-here"}, 1, "not found"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d %q, want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	for _, sub := range []string{"ready", "unmount", "host-cgroupns"} {
		if code, stdout, _ := runCmd(t, sub, "--help"); code != 0 || !strings.Contains(stdout, "Usage: lxcfs-go "+sub) {
			t.Errorf("%s --help: %d %q", sub, code, stdout)
		}
	}
}

// uptimeFS is a FUSE file system with one file, proc/uptime, whose reads
// wait on block while it is not nil.
type uptimeFS struct {
	fusefs.Inode
	block chan struct{}
}

type uptimeFile struct {
	fusefs.Inode
	block chan struct{}
}

var (
	_ fusefs.NodeOnAdder = (*uptimeFS)(nil)
	_ fusefs.NodeOpener  = (*uptimeFile)(nil)
	_ fusefs.NodeReader  = (*uptimeFile)(nil)
)

func (r *uptimeFS) OnAdd(ctx context.Context) {
	dir := r.NewPersistentInode(ctx, &fusefs.Inode{}, fusefs.StableAttr{Mode: syscall.S_IFDIR})
	r.AddChild("proc", dir, false)
	dir.AddChild("uptime", r.NewPersistentInode(ctx, &uptimeFile{block: r.block}, fusefs.StableAttr{}), false)
}

func (f *uptimeFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *uptimeFile) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if f.block != nil {
		<-f.block
	}
	data := []byte("12.34 56.78\n")
	if off >= int64(len(data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(data[off:]), 0
}

// mountUptime mounts an uptimeFS on dir; it is unmounted at cleanup, after
// block (if any) is closed so that no read stays stuck.
func mountUptime(t *testing.T, dir string, block chan struct{}) *fuse.Server {
	t.Helper()
	srv, err := fusefs.Mount(dir, &uptimeFS{block: block}, &fusefs.Options{
		MountOptions: fuse.MountOptions{FsName: "lxcfs-go-test", Name: "lxcfs", DirectMount: true, DirectMountStrict: true},
	})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if block != nil {
			select {
			case <-block:
			default:
				close(block)
			}
		}
		if err := srv.Unmount(); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return srv
}

// readyCheck is `lxcfs-go ready` with this test binary as its child (see
// TestMain).
func readyCheck(t *testing.T, mnt string, timeout time.Duration) error {
	t.Helper()
	cfg := readyConfig{mountpoint: mnt, file: "proc/uptime", timeout: timeout}
	cfg.child = func(args []string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "LXCFS_GO_RUN_MAIN=1", readyChildEnv+"=1",
			"LXCFS_GO_ARGS="+strings.Join(append([]string{"ready"}, args...), "\n"))
		return cmd
	}
	return cfg.check()
}

func TestReady(t *testing.T) {
	testenv.RequireMountAndCgroups(t)

	live := t.TempDir()
	mountUptime(t, live, nil)
	if err := readyCheck(t, live, 5*time.Second); err != nil {
		t.Errorf("a live mount: %v", err)
	}

	plain := t.TempDir()
	if err := readyCheck(t, plain, 5*time.Second); err == nil || !strings.Contains(err.Error(), "no FUSE file system") {
		t.Errorf("a plain directory: %v, want no FUSE file system", err)
	}
	if err := readyCheck(t, filepath.Join(plain, "none"), 5*time.Second); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("an absent directory: %v", err)
	}

	// A mount whose reads never answer: ready must give up on time.
	wedged := t.TempDir()
	mountUptime(t, wedged, make(chan struct{}))
	start := time.Now()
	err := readyCheck(t, wedged, 300*time.Millisecond)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("ready took %v on a wedged mount with a 300ms timeout", took)
	}
	if err == nil || !strings.Contains(err.Error(), "wedged") {
		t.Errorf("a wedged mount: %v, want wedged", err)
	}
}

func TestReadyDeadConnection(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	// A FUSE mount whose daemon is gone: mounted on a /dev/fuse fd that is
	// then closed unserved, so every request fails with ENOTCONN.
	dir := t.TempDir()
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts := "fd=" + itoa(fd) + ",rootmode=40000,user_id=0,group_id=0"
	if err := unix.Mount("lxcfs-go-test", dir, "fuse.lxcfs", 0, opts); err != nil {
		unix.Close(fd)
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	unix.Close(fd)
	if err := readyCheck(t, dir, 5*time.Second); err == nil || !strings.Contains(err.Error(), "daemon of the FUSE mount is gone") {
		t.Errorf("a dead connection: %v", err)
	}
	// unmount takes such a mount off (preStop after a crash).
	if code, stdout, stderr := runCmd(t, "unmount", dir); code != 0 || !strings.Contains(stdout, "unmounted") {
		t.Errorf("unmount of a dead mount: %d %q %q", code, stdout, stderr)
	}
	if top := topOf(t, dir); top != "" {
		t.Errorf("after unmount %s is still a mount (%s)", dir, top)
	}
}

func TestUnmount(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	// What a pod has: the hostPath volume (here a tmpfs) and the daemon's
	// FUSE mount on top.
	dir := t.TempDir()
	if err := unix.Mount("lxcfs-go-test", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	mountUptime(t, dir, nil)

	code, stdout, stderr := runCmd(t, "unmount", dir)
	if code != 0 || !strings.Contains(stdout, "unmounted") {
		t.Fatalf("unmount: %d %q %q", code, stdout, stderr)
	}
	if top := topOf(t, dir); top != "tmpfs" {
		t.Errorf("after unmount the top mount is %q, want the tmpfs", top)
	}
	// Again: the tmpfs stays.
	code, stdout, stderr = runCmd(t, "unmount", dir)
	if code != 0 || !strings.Contains(stdout, "not FUSE: left alone") {
		t.Errorf("second unmount: %d %q %q", code, stdout, stderr)
	}
	if top := topOf(t, dir); top != "tmpfs" {
		t.Errorf("after a second unmount the top mount is %q, want the tmpfs", top)
	}
	unix.Unmount(dir, 0)
	code, stdout, _ = runCmd(t, "unmount", dir)
	if code != 0 || !strings.Contains(stdout, "nothing is mounted") {
		t.Errorf("unmount of a plain directory: %d %q", code, stdout)
	}
}

func topOf(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mounts, err := hostfs.ParseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := topMount(mounts, dir)
	if !ok {
		return ""
	}
	return m.FSType
}

func TestTopMount(t *testing.T) {
	mounts := []hostfs.Mount{
		{MountID: 10, ParentID: 1, MountPoint: "/", FSType: "ext4"},
		{MountID: 30, ParentID: 20, MountPoint: "/var/lib/lxcfs", FSType: "fuse.lxcfs"},
		{MountID: 20, ParentID: 10, MountPoint: "/var/lib/lxcfs", FSType: "ext4"},
		{MountID: 40, ParentID: 10, MountPoint: "/other", FSType: "tmpfs"},
	}
	if m, ok := topMount(mounts, "/var/lib/lxcfs"); !ok || m.MountID != 30 {
		t.Errorf("top of the stack: %+v %v, want mount 30 (listed before the one under it)", m, ok)
	}
	if _, ok := topMount(mounts, "/nothing"); ok {
		t.Error("found a mount at /nothing")
	}
}

// TestIsHostCgroupNS reads fixture /proc trees: kthreadd at "/" on every
// hierarchy is the host's view; a path above the namespace's root or
// another process as pid 2 is not.
func TestIsHostCgroupNS(t *testing.T) {
	for _, tc := range []struct {
		name, status, cgroup string
		host                 bool
	}{
		{"hybrid host", "Name:\tkthreadd\nState:\tS\n", "9:name=systemd:/\n1:cpu,cpuacct:/\n0::/\n", true},
		{"v2 host", "Name:\tkthreadd\n", "0::/\n", true},
		{"pod namespace", "Name:\tkthreadd\n", "0::/../../..\n", false},
		{"one hierarchy off", "Name:\tkthreadd\n", "1:cpu:/\n0::/..\n", false},
		{"no hostPID", "Name:\tpause\n", "0::/\n", false},
		{"garbage", "Name:\tkthreadd\n", "nonsense\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "2"), 0o755)
			os.WriteFile(filepath.Join(root, "2/status"), []byte(tc.status), 0o644)
			os.WriteFile(filepath.Join(root, "2/cgroup"), []byte(tc.cgroup), 0o644)
			err := isHostCgroupNS(root)
			if (err == nil) != tc.host {
				t.Errorf("isHostCgroupNS: %v, want host %v", err, tc.host)
			}
		})
	}
	if err := isHostCgroupNS(t.TempDir()); err == nil || !strings.Contains(err.Error(), "hostPID") {
		t.Errorf("no pid 2: %v, want a hint about hostPID", err)
	}
}

func TestHostCandidates(t *testing.T) {
	root := t.TempDir()
	for pid, ns := range map[string]string{"2": "cgroup:[1]", "7": "cgroup:[2]", "30": "cgroup:[1]", "9": "cgroup:[2]", "11": "cgroup:[3]"} {
		os.MkdirAll(filepath.Join(root, pid, "ns"), 0o755)
		os.Symlink(ns, filepath.Join(root, pid, "ns/cgroup"))
	}
	os.MkdirAll(filepath.Join(root, "self"), 0o755)
	got := hostCandidates(root)
	// 1 is tried though unreadable; one pid per namespace after that.
	want := []int{1, 2, 7, 11}
	if !slicesEqual(got, want) {
		t.Errorf("hostCandidates = %v, want %v", got, want)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

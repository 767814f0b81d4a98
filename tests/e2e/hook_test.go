package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

func TestHooksShellcheck(t *testing.T) {
	ensureTools(t, tool{"shellcheck", "shellcheck"})
	scripts, _ := filepath.Glob(repo(t, "hooks/*.hook"))
	if len(scripts) < 2 {
		t.Fatalf("found %d hooks in hooks/, want lxc.mount.hook and lxc.reboot.hook", len(scripts))
	}
	for _, s := range scripts {
		if out, err := command(time.Minute, "shellcheck", "--shell=sh", "--severity=style", s); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", filepath.Base(s), err, out)
		}
		if out, err := command(time.Minute, "sh", "-n", s); err != nil {
			t.Errorf("sh -n %s: %v\n%s", filepath.Base(s), err, out)
		}
		if st, err := os.Stat(s); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
}

// mountEntry is a mount below a scratch rootfs, as the hook left it.
type mountEntry struct {
	fstype   string
	readOnly bool
}

// hookRun is what running the mount hook on a scratch rootfs produced.
type hookRun struct {
	output string                // the hook's stderr and stdout
	mounts map[string]mountEntry // by path relative to the rootfs
	links  map[string]string     // symlinks in sys/fs/cgroup, by name
	err    error                 // the hook's exit status
}

// setupRootfs lays out a scratch rootfs the way LXC leaves one before its
// mount hook: a private procfs-like set of files, a sysfs cpu directory, and
// /sys/fs/cgroup with one hierarchy mounted and one symlink. The rootfs has
// no proc/slabinfo, so the hook must skip it.
const setupRootfs = `
mount -t tmpfs scratch "$R"
mkdir -p "$R/proc/pressure" "$R/sys/devices/system/cpu" "$R/sys/fs/cgroup" "$R/var/lib/lxcfs"
for f in cpuinfo diskstats loadavg meminfo stat swaps uptime; do : > "$R/proc/$f"; done
mount -t tmpfs cgroups "$R/sys/fs/cgroup"
mkdir "$R/sys/fs/cgroup/memory" "$R/sys/fs/cgroup/cpu"
mount -t tmpfs lxc-memory "$R/sys/fs/cgroup/memory"
ln -s cpu "$R/sys/fs/cgroup/cpuacct"
`

// runMountHook runs hooks/lxc.mount.hook in a private mount namespace on a
// scratch rootfs, after the shell lines of prepare (with $R the rootfs and
// $D the daemon directory), and reports what it mounted.
func runMountHook(t *testing.T, dir string, env []string, prepare string, args ...string) hookRun {
	t.Helper()
	root := t.TempDir()
	hook := repo(t, "hooks/lxc.mount.hook")
	script := `set -eu
R=$1 D=$2 HOOK=$3
shift 3
` + setupRootfs + prepare + `
set +e
LXC_ROOTFS_MOUNT=$R "$HOOK" "$@" 2>&1
echo "hook-exit=$?"
echo "--- mountinfo"
cat /proc/self/mountinfo
echo "--- links"
for l in "$R"/sys/fs/cgroup/*; do [ -L "$l" ] && echo "${l##*/} $(readlink "$l")"; done
exit 0
`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--",
		"sh", "-c", script, "sh", root, dir, hook}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unshare: %v\n%s", err, out)
	}
	res := hookRun{mounts: map[string]mountEntry{}, links: map[string]string{}}
	text, rest, _ := strings.Cut(string(out), "--- mountinfo\n")
	hookOut, exit, _ := strings.Cut(text, "hook-exit=")
	res.output = hookOut
	if strings.TrimSpace(exit) != "0" {
		res.err = &exec.ExitError{}
		res.output += "(exit " + strings.TrimSpace(exit) + ")"
	}
	info, links, _ := strings.Cut(rest, "--- links\n")
	realRoot, _ := filepath.EvalSymlinks(root)
	for _, line := range strings.Split(info, "\n") {
		fields := strings.Fields(line)
		sep := slices.Index(fields, "-")
		if sep < 6 || sep+1 >= len(fields) {
			continue
		}
		rel, ok := strings.CutPrefix(fields[4], realRoot+"/")
		if !ok {
			continue
		}
		res.mounts[rel] = mountEntry{
			fstype:   fields[sep+1],
			readOnly: slices.Contains(strings.Split(fields[5], ","), "ro"),
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(links), "\n") {
		if name, target, ok := strings.Cut(line, " "); ok {
			res.links[name] = target
		}
	}
	return res
}

// wantBound checks that rel is a fuse.lxcfs mount with the given mode.
func (r hookRun) wantBound(t *testing.T, rel string, readOnly bool) {
	t.Helper()
	m, ok := r.mounts[rel]
	switch {
	case !ok:
		t.Errorf("%s is not mounted; hook output:\n%s", rel, r.output)
	case m.fstype != testenv.FSType:
		t.Errorf("%s is a %s mount, want %s", rel, m.fstype, testenv.FSType)
	case m.readOnly != readOnly:
		t.Errorf("%s read-only = %v, want %v", rel, m.readOnly, readOnly)
	}
}

func (r hookRun) wantNoLxcfs(t *testing.T) {
	t.Helper()
	for rel, m := range r.mounts {
		if m.fstype == testenv.FSType {
			t.Errorf("%s was bound although the hook had nothing to bind", rel)
		}
	}
}

// TestLXCHook runs the mount hook outside LXC, on scratch rootfs trees in
// private mount namespaces, for the cases a single LXC container on this
// host cannot show: the cgroup tree without a cgroup namespace, co-mounted
// hierarchies, a dead daemon.
func TestLXCHook(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	ensureTools(t, tool{"unshare", "util-linux"})
	daemon := testenv.StartDaemon(t)

	t.Run("files", func(t *testing.T) {
		r := runMountHook(t, daemon.Mnt, []string{"LXC_CGNS_AWARE=1"}, "", "--lxcfs-dir", daemon.Mnt, "name", "lxc", "mount")
		if r.err != nil {
			t.Fatalf("hook failed: %s", r.output)
		}
		for _, f := range []string{"cpuinfo", "diskstats", "loadavg", "meminfo", "stat", "swaps", "uptime"} {
			r.wantBound(t, "proc/"+f, true)
		}
		if _, ok := r.mounts["proc/slabinfo"]; ok {
			t.Error("proc/slabinfo was bound although the rootfs has no such file")
		}
		if fileExists(daemon.Path("proc/pressure")) {
			r.wantBound(t, "proc/pressure", false)
		}
		r.wantBound(t, "sys/devices/system/cpu", true)
		r.wantBound(t, "var/lib/lxcfs", false)
		if m := r.mounts["sys/fs/cgroup/memory"]; m.fstype != "tmpfs" {
			t.Errorf("with a cgroup namespace the hook replaced sys/fs/cgroup/memory (%s)", m.fstype)
		}
	})

	t.Run("block stat files", func(t *testing.T) {
		// The rootfs's sysfs has the host's device directories; the hook
		// binds each device's stat file at its real path.
		prepare := `for b in /sys/block/*; do
	d=$(readlink -f "$b"); mkdir -p "$R$d"; : > "$R$d/stat"
	for p in "$d"/*/partition; do [ -e "$p" ] || continue; mkdir -p "$R${p%/partition}"; : > "$R${p%/partition}/stat"; done
done
`
		r := runMountHook(t, daemon.Mnt, []string{"LXC_CGNS_AWARE=1"}, prepare, "--lxcfs-dir", daemon.Mnt)
		if r.err != nil {
			t.Fatalf("hook failed: %s", r.output)
		}
		disks, _ := filepath.Glob("/sys/block/*")
		parts, _ := filepath.Glob("/sys/block/*/*/partition")
		if len(disks) == 0 {
			t.Skip("this host has no block devices")
		}
		for _, p := range append(disks, parts...) {
			p = strings.TrimSuffix(p, "/partition")
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				t.Fatal(err)
			}
			r.wantBound(t, strings.TrimPrefix(real, "/")+"/stat", true)
		}
	})

	t.Run("equals form", func(t *testing.T) {
		r := runMountHook(t, daemon.Mnt, []string{"LXC_CGNS_AWARE=1"}, "", "--lxcfs-dir="+daemon.Mnt)
		r.wantBound(t, "proc/meminfo", true)
	})

	if fileExists(daemon.Path("cgroup")) {
		t.Run("cgroup tree", func(t *testing.T) { checkCgroupTree(t, daemon.Mnt) })
	} else {
		t.Log("lxcfs-go serves no cgroup/ tree yet: the cgroup part of the hook is checked against the reference lxcfs only")
	}
	t.Run("cgroup tree of the reference lxcfs", func(t *testing.T) {
		checkCgroupTree(t, testenv.StartReference(t).Mnt)
	})

	t.Run("skip cgroup mounts", func(t *testing.T) {
		ref := testenv.StartReference(t)
		r := runMountHook(t, ref.Mnt, nil, "", "--lxcfs-dir", ref.Mnt, "--skip-cgroup-mounts")
		r.wantBound(t, "proc/meminfo", true)
		if m := r.mounts["sys/fs/cgroup/memory"]; m.fstype != "tmpfs" {
			t.Errorf("--skip-cgroup-mounts: sys/fs/cgroup/memory is %s", m.fstype)
		}
	})

	t.Run("not mounted", func(t *testing.T) {
		empty := t.TempDir()
		r := runMountHook(t, empty, nil, "", "--lxcfs-dir", empty)
		if r.err != nil {
			t.Errorf("the hook failed, so the container would not start: %s", r.output)
		}
		if !strings.Contains(r.output, "lxcfs-go is not mounted at "+empty) {
			t.Errorf("hook output does not say the daemon is missing:\n%s", r.output)
		}
		r.wantNoLxcfs(t)
		missing := filepath.Join(empty, "missing")
		r = runMountHook(t, missing, nil, "", "--lxcfs-dir", missing)
		if r.err != nil || !strings.Contains(r.output, missing+" does not exist") {
			t.Errorf("missing directory: err %v, output:\n%s", r.err, r.output)
		}
	})

	t.Run("dead daemon", func(t *testing.T) {
		mnt := startAndKillDaemon(t)
		r := runMountHook(t, mnt, nil, "", "--lxcfs-dir", mnt)
		if r.err != nil {
			t.Errorf("the hook failed, so the container would not start: %s", r.output)
		}
		if !strings.Contains(r.output, "does not answer") {
			t.Errorf("hook output does not say the mount is dead:\n%s", r.output)
		}
		r.wantNoLxcfs(t)
	})

	t.Run("misuse", func(t *testing.T) {
		out, err := exec.Command(repo(t, "hooks/lxc.mount.hook")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "LXC_ROOTFS_MOUNT is not set") {
			t.Errorf("without LXC_ROOTFS_MOUNT: err %v, output %q", err, out)
		}
	})
}

// checkCgroupTree runs the hook without a cgroup namespace (no
// LXC_CGNS_AWARE), with the daemon's cgroup/ seen through a bind of its
// mount to which co-mounted hierarchies are added, and checks that
// /sys/fs/cgroup is rebuilt from the daemon's tree.
func checkCgroupTree(t *testing.T, mnt string) {
	t.Helper()
	hierarchies, err := os.ReadDir(filepath.Join(mnt, "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hierarchies {
		names = append(names, h.Name())
	}
	if !slices.Contains(names, "cpu") || !slices.Contains(names, "memory") {
		t.Skipf("the daemon's cgroup/ has %v; this check needs separate cpu and memory hierarchies", names)
	}
	// In the hook's private namespace: D becomes a bind of the daemon's
	// mount (still fuse.lxcfs) whose cgroup/ is a tmpfs holding binds of the
	// real hierarchies plus two co-mounted ones, as other hosts have them:
	// "cpu,cpuacct", whose parts are hierarchies here too, and
	// "net_cls,net_prio", whose parts are not.
	prepare := `
M=$D
D=$(mktemp -d)
mount --bind "$M" "$D"
mount -t tmpfs fake-cgroup "$D/cgroup"
for h in "$M"/cgroup/*; do mkdir "$D/cgroup/${h##*/}"; mount --bind "$h" "$D/cgroup/${h##*/}"; done
for co in cpu,cpuacct net_cls,net_prio; do
	mkdir "$D/cgroup/$co"
	mount --bind "$M/cgroup/cpu" "$D/cgroup/$co"
done
set -- --lxcfs-dir "$D"
`
	r := runMountHook(t, mnt, nil, prepare)
	if r.err != nil {
		t.Fatalf("hook failed: %s", r.output)
	}
	r.wantBound(t, "proc/meminfo", true)
	for _, name := range names {
		want := name
		if name == "name=systemd" {
			want = "systemd"
		}
		r.wantBound(t, "sys/fs/cgroup/"+want, false)
	}
	r.wantBound(t, "sys/fs/cgroup/cpu,cpuacct", false)
	r.wantBound(t, "sys/fs/cgroup/net_cls,net_prio", false)
	for _, name := range []string{"net_cls", "net_prio"} {
		if target := r.links[name]; target != "net_cls,net_prio" {
			t.Errorf("%s links to %q, want net_cls,net_prio", name, target)
		}
	}
	// "cpu" and "cpuacct" are hierarchies of their own here too, so neither
	// becomes a symlink to cpu,cpuacct.
	for _, name := range []string{"cpu", "cpuacct"} {
		if target, ok := r.links[name]; ok {
			t.Errorf("%s is a symlink to %s although the daemon has a %s hierarchy", name, target, name)
		}
	}
	if _, ok := r.mounts["sys/fs/cgroup/name=systemd"]; ok {
		t.Error("name=systemd was bound under its own name, want systemd")
	}
	if m := r.mounts["sys/fs/cgroup/memory"]; m.fstype == "tmpfs" {
		t.Error("LXC's memory mount is still there")
	}
}

// startAndKillDaemon starts the daemon on a directory of its own and
// SIGKILLs it, leaving a mount whose every access fails with ENOTCONN. The
// mount is lazily unmounted in Cleanup.
func startAndKillDaemon(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mnt := filepath.Join(dir, "dead")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.DaemonBinary(t), "-f", "-p", filepath.Join(dir, "pid"), mnt)
	// Dead for good: the fd holder would start it again.
	cmd.Env = append(os.Environ(), "LXCFS_GO_RESTART=never")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	deadline := time.Now().Add(testenv.MountTimeout)
	for !fileExists(filepath.Join(mnt, "proc")) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the daemon did not mount")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The kernel answers from its attribute cache for a moment; then a
	// request waits until the fd holder's grace ends and fails with
	// ECONNABORTED (pending at the abort), later ones with ENOTCONN.
	for deadline = time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := os.Stat(filepath.Join(mnt, "proc"))
		if errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED) {
			return mnt
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGKILL, stat of the mount: %v, want ENOTCONN or ECONNABORTED", err)
		}
	}
}

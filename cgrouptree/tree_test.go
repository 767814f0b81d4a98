package cgrouptree

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// fakeResolver puts every caller in one container whose init is the test
// process. After switchAfter calls of Cgroups (0: never) the cgroup
// becomes moved, as if renamed.
type fakeResolver struct {
	ref         hostcgroup.Process
	path, moved string
	switchAfter int32
	calls       atomic.Int32
}

func (r *fakeResolver) ContainerInit(tid int) (ref, init hostcgroup.Process, err error) {
	return r.ref, r.ref, nil
}

func (r *fakeResolver) Cgroups(pid int) (hostcgroup.Cgroups, error) {
	p := r.path
	if n := r.calls.Add(1); r.switchAfter > 0 && n > r.switchAfter {
		p = r.moved
	}
	return hostcgroup.Cgroups{V1: map[string]string{"memory": p}}, nil
}

func self(t testing.TB) hostcgroup.Process {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	start, err := hostfs.ParseStatStartTicks(b)
	if err != nil {
		t.Fatal(err)
	}
	return hostcgroup.Process{PID: os.Getpid(), StartTicks: start}
}

// fixture builds a fake memory hierarchy:
//
//	/a/b        the caller's cgroup, with files and child c (and c/d)
//	/a/bc       a sibling whose name has /a/b as a string prefix
//	/a/b/link   a symlink to /x (cgroupfs has none; the view must not follow)
//	/x          another container
//
// Files inside /a/b hold "inside", all others "secret".
func fixture(t testing.TB, cg string) (*Tree, *fakeResolver, string) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"a/b/c/d", "a/bc", "x"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"tasks", "memory.max", "a/tasks", "a/memory.max", "a/bc/memory.max", "x/memory.max", "x/tasks"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("secret\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/b/memory.max", "a/b/notify_on_release", "a/b/c/memory.max", "a/b/c/d/memory.max"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("inside\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "a/b/memory.stat"), []byte("inside\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../x", filepath.Join(root, "a/b/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../x/memory.max", filepath.Join(root, "a/b/memory.link")); err != nil {
		t.Fatal(err)
	}
	res := &fakeResolver{ref: self(t), path: cg}
	tr, err := New(Options{
		Layout: &hostcgroup.Layout{Kind: hostcgroup.LayoutV1, Hierarchies: []hostcgroup.Hierarchy{
			{Version: 1, Controllers: []string{"memory"}, MountPoint: root, Root: "/"},
		}},
		Resolver: res,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr, res, root
}

func caller(t testing.TB, tr *Tree, uid, gid uint32) *Requester {
	t.Helper()
	c, err := tr.Requester(os.Getpid(), uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// unprivileged makes c an ordinary host user.
func unprivileged(c *Requester, uid uint32) *Requester {
	c.Creds = *hostUser(uid, uid)
	return c
}

func names(es []Entry) []string {
	var out []string
	for _, e := range es {
		n := e.Name
		if e.Dir {
			n += "/"
		}
		out = append(out, n)
	}
	return out
}

func TestTreeVisibility(t *testing.T) {
	tr, _, _ := fixture(t, "/a/b")
	h := tr.Hierarchy("memory")
	if h == nil {
		t.Fatal("no memory hierarchy")
	}
	c := caller(t, tr, 0, 0)
	for _, tc := range []struct {
		dir  string
		want []string
		err  error
	}{
		{"/", []string{"a/"}, nil},
		{"/a", []string{"b/"}, nil},
		{"/a/b", []string{"memory.max", "memory.stat", "notify_on_release", "c/"}, nil},
		{"/a/b/c", []string{"memory.max", "d/"}, nil},
		{"/a/bc", nil, unix.ENOENT},
		{"/x", nil, unix.ENOENT},
	} {
		es, err := tr.List(c, h, tc.dir)
		got := names(es)
		slices.Sort(got)
		slices.Sort(tc.want)
		if !errors.Is(err, tc.err) || !slices.Equal(got, tc.want) {
			t.Errorf("List(%s) = %q, %v; want %q, %v", tc.dir, got, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct {
		dir, name string
		dirOK     bool
		err       error
	}{
		{"/", "a", true, nil},
		{"/", "x", false, unix.ENOENT},
		{"/", "tasks", false, unix.ENOENT}, // files of ancestors
		{"/a", "b", true, nil},
		{"/a", "bc", false, unix.ENOENT},
		{"/a", "memory.max", false, unix.ENOENT},
		{"/a/b", "memory.max", false, nil},
		{"/a/b", "c", true, nil},
		{"/a/b", "link", false, unix.ENOENT},
		{"/a/b", "memory.link", false, unix.ENOENT},
		{"/a/b", "..", false, unix.ENOENT},
		{"/a/b", ".", false, unix.ENOENT},
		{"/a/b", "c/../../bc", false, unix.ENOENT},
		{"/a/b", "", false, unix.ENOENT},
		{"/a/b", "nope", false, unix.ENOENT},
	} {
		a, err := tr.Lookup(c, h, tc.dir, tc.name)
		if !errors.Is(err, tc.err) || (err == nil && a.Dir != tc.dirOK) {
			t.Errorf("Lookup(%s, %q) = dir %v, %v; want dir %v, %v", tc.dir, tc.name, a.Dir, err, tc.dirOK, tc.err)
		}
	}
	// Ancestors look like read-only root directories; the cgroup itself is
	// real.
	if a, err := tr.StatDir(c, h, "/a"); err != nil || !a.Synthetic() || a.Mode != unix.S_IFDIR|0o555 {
		t.Errorf("StatDir(/a) = %+v, %v", a, err)
	}
	if a, err := tr.StatDir(c, h, "/a/b"); err != nil || a.Synthetic() || a.Mode != unix.S_IFDIR|0o755 {
		t.Errorf("StatDir(/a/b) = %+v, %v", a, err)
	}
	for _, p := range []string{"/a/bc", "/x", "/a/b/../bc"} {
		if _, err := tr.StatDir(c, h, p); !errors.Is(err, unix.ENOENT) {
			t.Errorf("StatDir(%s) = %v, want ENOENT", p, err)
		}
	}
	// Opens through a link fail: no symlink is ever followed.
	for _, p := range []string{"/a/b/link/memory.max", "/a/b/memory.link"} {
		if f, err := tr.Open(c, h, p, unix.O_RDONLY); err == nil {
			f.Close()
			t.Errorf("Open(%s) succeeded through a symlink", p)
		}
	}
	f, err := tr.Open(c, h, "/a/b/c/memory.max", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, err := f.Read(c); err != nil || string(b) != "inside\n" {
		t.Errorf("Read = %q, %v", b, err)
	}
}

func TestTreeNoCgroupInHierarchy(t *testing.T) {
	tr, _, _ := fixture(t, "")
	h := tr.Hierarchy("memory")
	c := caller(t, tr, 0, 0)
	if es, err := tr.List(c, h, "/"); err != nil || len(es) != 0 {
		t.Errorf("List(/) = %v, %v; want nothing", es, err)
	}
	if _, err := tr.Lookup(c, h, "/", "a"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Lookup(/, a) = %v", err)
	}
}

func TestTreeRenamedCgroupFailsClosed(t *testing.T) {
	tr, res, _ := fixture(t, "/a/b")
	h := tr.Hierarchy("memory")
	c := caller(t, tr, 0, 0)
	// The caller's cgroup is renamed between the request's resolution and
	// the open: the open must not go ahead on the path resolved before.
	res.moved, res.switchAfter = "/a/bc", res.calls.Load()
	if f, err := tr.Open(c, h, "/a/b/memory.max", unix.O_RDONLY); !errors.Is(err, unix.ESTALE) {
		if f != nil {
			f.Close()
		}
		t.Errorf("Open after a rename = %v, want ESTALE", err)
	}
	if _, err := tr.Mkdir(c, h, "/a/b", "new", 0o755); !errors.Is(err, unix.ESTALE) {
		t.Errorf("Mkdir after a rename = %v, want ESTALE", err)
	}
}

func TestTreePermissions(t *testing.T) {
	tr, _, root := fixture(t, "/a/b")
	h := tr.Hierarchy("memory")
	nobody := unprivileged(caller(t, tr, 65534, 65534), 65534)
	if f, err := tr.Open(nobody, h, "/a/b/memory.max", unix.O_WRONLY); !errors.Is(err, unix.EACCES) {
		if f != nil {
			f.Close()
		}
		t.Errorf("unprivileged open for writing = %v, want EACCES", err)
	}
	f, err := tr.Open(nobody, h, "/a/b/memory.max", unix.O_RDONLY)
	if err != nil {
		t.Fatalf("unprivileged open for reading: %v", err)
	}
	f.Close()
	if _, err := tr.Mkdir(nobody, h, "/a/b", "new", 0o755); !errors.Is(err, unix.EACCES) {
		t.Errorf("unprivileged mkdir = %v, want EACCES", err)
	}
	if _, err := tr.SetAttr(nobody, h, "/a/b/memory.max", false, Change{Mode: ptr[uint32](0o666)}); !errors.Is(err, unix.EPERM) {
		t.Errorf("unprivileged chmod = %v, want EPERM", err)
	}
	if _, err := tr.SetAttr(nobody, h, "/a/b/memory.max", false, Change{Size: ptr[uint64](0)}); !errors.Is(err, unix.EACCES) {
		t.Errorf("unprivileged truncate = %v, want EACCES", err)
	}
	if err := tr.Access(nobody, h, "/a/b/memory.max", false, W); !errors.Is(err, unix.EACCES) {
		t.Errorf("unprivileged access(W) = %v, want EACCES", err)
	}
	if err := tr.Access(nobody, h, "/a", true, W); !errors.Is(err, unix.EACCES) {
		t.Errorf("access(W) on an ancestor = %v, want EACCES", err)
	}
	// The owner of a delegated cgroup may write, mkdir and chmod.
	if os.Geteuid() != 0 {
		t.Skip("chown of the fixture needs root")
	}
	for _, p := range []string{"a/b", "a/b/memory.max"} {
		if err := os.Chown(filepath.Join(root, p), 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	owner := unprivileged(caller(t, tr, 1000, 1000), 1000)
	f, err = tr.Open(owner, h, "/a/b/memory.max", unix.O_WRONLY)
	if err != nil {
		t.Fatalf("owner open for writing: %v", err)
	}
	if n, err := f.Write(owner, []byte("12345\n")); err != nil || n != 6 {
		t.Errorf("owner write = %d, %v", n, err)
	}
	f.Close()
	a, err := tr.Mkdir(owner, h, "/a/b", "mine", 0o755)
	if err != nil {
		t.Fatalf("owner mkdir: %v", err)
	}
	if a.UID != 1000 || a.GID != 1000 {
		t.Errorf("new cgroup owned by %d:%d, want the caller's 1000:1000", a.UID, a.GID)
	}
	if _, err := tr.SetAttr(owner, h, "/a/b/memory.max", false, Change{Mode: ptr[uint32](0o600)}); err != nil {
		t.Errorf("owner chmod: %v", err)
	}
	if _, err := tr.SetAttr(owner, h, "/a/b/memory.max", false, Change{UID: ptr[uint32](0)}); !errors.Is(err, unix.EPERM) {
		t.Errorf("owner giving a file to root = %v, want EPERM", err)
	}
	// Files read-only for everyone stay so, even for root: the real open
	// refuses (kernfs does the same for files without a write handler;
	// here the fixture file has no w bits and root's open of it works, so
	// only the bits protect it for non-root).
	if f, err := tr.Open(owner, h, "/a/b/memory.stat", unix.O_WRONLY); err == nil {
		f.Close()
		t.Error("owner opened a 0444 file for writing")
	}
}

func TestTreeMkdirRmdir(t *testing.T) {
	tr, _, root := fixture(t, "/a/b")
	h := tr.Hierarchy("memory")
	c := caller(t, tr, 0, 0)
	for _, tc := range []struct {
		dir, name string
		err       error
	}{
		{"/a", "b", unix.EEXIST},
		{"/a", "sibling", unix.EPERM},
		{"/", "top", unix.EPERM},
		{"/x", "y", unix.ENOENT},
		{"/a/b", "..", unix.EINVAL},
		{"/a/b", "a/b", unix.EINVAL},
		{"/a/b", "new", nil},
		{"/a/b/new", "deeper", nil},
	} {
		if _, err := tr.Mkdir(c, h, tc.dir, tc.name, 0o755); !errors.Is(err, tc.err) {
			t.Errorf("Mkdir(%s, %q) = %v, want %v", tc.dir, tc.name, err, tc.err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "a/sibling")); err == nil {
		t.Error("a sibling was created")
	}
	for _, tc := range []struct {
		dir, name string
		err       error
	}{
		{"/a", "b", unix.EBUSY}, // the caller's own cgroup
		{"/", "a", unix.EBUSY},  // an ancestor
		{"/a", "bc", unix.ENOENT},
		{"/", "x", unix.ENOENT},
		{"/a/b", "memory.max", unix.ENOTDIR},
		// Not recursive: a cgroup with a child stays, child and all
		// (lxcfs removes the children first, then fails).
		{"/a/b", "new", unix.ENOTEMPTY},
	} {
		if err := tr.Rmdir(c, h, tc.dir, tc.name); !errors.Is(err, tc.err) {
			t.Errorf("Rmdir(%s, %q) = %v, want %v", tc.dir, tc.name, err, tc.err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "a/b/new/deeper")); err != nil {
		t.Errorf("a failed rmdir removed a child: %v", err)
	}
	for _, p := range [][2]string{{"/a/b/new", "deeper"}, {"/a/b", "new"}} {
		if err := tr.Rmdir(c, h, p[0], p[1]); err != nil {
			t.Errorf("Rmdir(%s, %s): %v", p[0], p[1], err)
		}
	}
}

// TestTreeWalkNeverLeaves is the isolation property on a real directory
// tree: any sequence of names, looked up one by one from the hierarchy
// root, reaches only the path down to the caller's cgroup and what is
// below it, and no file read through the view is one outside.
func TestTreeWalkNeverLeaves(t *testing.T) {
	tr, _, _ := fixture(t, "/a/b")
	h := tr.Hierarchy("memory")
	c := caller(t, tr, 0, 0)
	pool := []string{"a", "b", "bc", "c", "d", "x", "..", ".", "", "/", "link", "memory.max", "memory.link", "tasks", "b/../bc", "../x", "a/b", "\x00", "b\x00"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		dir := "/"
		for range 1 + rng.IntN(6) {
			name := pool[rng.IntN(len(pool))]
			walkStep(t, tr, c, h, &dir, name)
		}
	}
}

func walkStep(t testing.TB, tr *Tree, c *Requester, h *Hierarchy, dir *string, name string) {
	a, err := tr.Lookup(c, h, *dir, name)
	if err != nil {
		return
	}
	p := *dir + "/" + name
	if *dir == "/" {
		p = "/" + name
	}
	if !Clean(p) {
		t.Fatalf("Lookup(%s, %q) succeeded for an unclean path", *dir, name)
	}
	if a.Dir {
		if v, _ := Classify("/a/b", p); v == Hidden {
			t.Fatalf("Lookup(%s, %q) reached hidden %s", *dir, name, p)
		}
		*dir = p
		return
	}
	if !FileVisible("/a/b", p) {
		t.Fatalf("Lookup(%s, %q) reached hidden file %s", *dir, name, p)
	}
	f, err := tr.Open(c, h, p, unix.O_RDONLY)
	if err != nil {
		return
	}
	defer f.Close()
	if b, _ := f.Read(c); strings.Contains(string(b), "secret") {
		t.Fatalf("read %s through the view: %q", p, b)
	}
}

func FuzzTreeWalk(f *testing.F) {
	f.Add("a/b/c", "..")
	f.Add("a/bc/memory.max", "")
	f.Add("a/b/link/tasks", "../x")
	tr, _, _ := fixture(f, "/a/b")
	h := tr.Hierarchy("memory")
	c := caller(f, tr, 0, 0)
	f.Fuzz(func(t *testing.T, path, extra string) {
		dir := "/"
		for _, name := range append(strings.Split(path, "/"), extra) {
			walkStep(t, tr, c, h, &dir, name)
		}
	})
}

// TestPidTranslation runs a process as pid 1 of a new pid namespace and
// checks both ways of translating, with and without the nsfs ioctls.
func TestPidTranslation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a new pid namespace needs root")
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a pid namespace: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	child := cmd.Process.Pid
	tr, _, root := fixture(t, "/a/b")
	st, err := readStatus("/proc", child)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.NSpid) < 2 || st.NSpid[len(st.NSpid)-1] != 1 {
		t.Fatalf("child NSpid %v", st.NSpid)
	}
	for _, noIoctl := range []bool{false, true} {
		t.Run("noIoctl="+strconv.FormatBool(noIoctl), func(t *testing.T) {
			tr.noIoctl = noIoctl
			ns, err := tr.openPidNS(child, st.NSpid)
			if err != nil {
				t.Fatal(err)
			}
			defer ns.close()
			if n, ok := ns.fromHost(child, false); !ok || n != 1 {
				t.Errorf("fromHost(child) = %d %v, want 1", n, ok)
			}
			if n, ok := ns.fromHost(os.Getpid(), false); ok {
				t.Errorf("fromHost(test process) = %d, want invisible", n)
			}
			if p, err := ns.toHost(1, false); err != nil || p != child {
				t.Errorf("toHost(1) = %d, %v; want %d", p, err, child)
			}
			if p, err := ns.toHost(2, true); err == nil {
				t.Errorf("toHost(2) = %d, want none", p)
			}
		})
	}
	tr.noIoctl = false
	// A pid list read by the child shows only itself, as 1; no "0" lines
	// for the pids it cannot see.
	procs := filepath.Join(root, "a/b/cgroup.procs")
	if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())+"\n"+strconv.Itoa(child)+"\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := tr.Hierarchy("memory")
	c := caller(t, tr, 0, 0)
	f, err := tr.Open(c, h, "/a/b/cgroup.procs", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reader := &Requester{TID: child, Status: st}
	if b, err := f.Read(reader); err != nil || string(b) != "1\n" {
		t.Errorf("cgroup.procs read in the child's namespace = %q, %v; want \"1\\n\"", b, err)
	}
	if b, err := f.Read(c); err != nil || !strings.HasPrefix(string(b), strconv.Itoa(os.Getpid())+"\n") {
		t.Errorf("cgroup.procs read in the host namespace = %q, %v", b, err)
	}
}

// TestTreeHierarchyNames: hierarchies are named as lxcfs names them, a
// named hierarchy without "name=" (lxcfs's LXC hook binds cgroup/systemd
// where systemd looks for it), co-mounted controllers joined by commas.
func TestTreeHierarchyNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ctrls []string
		want  string
	}{
		{[]string{"memory"}, "memory"},
		{[]string{"cpu", "cpuacct"}, "cpu,cpuacct"},
		{[]string{"name=systemd"}, "systemd"},
		{[]string{"name=elogind"}, "elogind"},
		{[]string{"net_cls", "net_prio"}, "net_cls,net_prio"},
	} {
		if got := HierarchyName(tc.ctrls); got != tc.want {
			t.Errorf("HierarchyName(%q) = %q, want %q", tc.ctrls, got, tc.want)
		}
	}
	sd, mem := t.TempDir(), t.TempDir()
	tr, err := New(Options{
		Layout: &hostcgroup.Layout{Kind: hostcgroup.LayoutV1, Hierarchies: []hostcgroup.Hierarchy{
			{Version: 1, Controllers: []string{"name=systemd"}, MountPoint: sd, Root: "/"},
			{Version: 1, Controllers: []string{"memory"}, MountPoint: mem, Root: "/"},
		}},
		Resolver: &fakeResolver{ref: self(t), path: "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	var got []string
	for _, h := range tr.Hierarchies() {
		got = append(got, h.Name)
	}
	if want := []string{"systemd", "memory"}; !slices.Equal(got, want) {
		t.Errorf("hierarchies %q, want %q", got, want)
	}
	if tr.Hierarchy("name=systemd") != nil {
		t.Error(`cgroup/name=systemd exists; lxcfs has only cgroup/systemd`)
	}
	if h := tr.Hierarchy("systemd"); h == nil || h.ctrl != "name=systemd" {
		t.Errorf("cgroup/systemd = %+v, want the hierarchy of name=systemd", h)
	}
}

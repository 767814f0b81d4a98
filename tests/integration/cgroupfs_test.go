package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// The cgroup/ tree (docs/differences.md) through a real mount, on the
// real cgroups of this machine.

// cgfsHier is the name of the cgroup/ directory that holds controller c
// (harness name): its controller list as /proc/self/cgroup prints it on
// v1, "unified" when cgroup2 serves it.
func cgfsHier(t *testing.T, cg *testenv.Cgroup, c string) string {
	t.Helper()
	if cg.V2(c) {
		return "unified"
	}
	for _, line := range lines(hostFile(t, "/proc/self/cgroup")) {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), c) {
			return f[1]
		}
	}
	t.Fatalf("no hierarchy for %s in /proc/self/cgroup", c)
	return ""
}

// cgfsKnob is a root-owned, writable file every cgroup of the memory
// hierarchy has: memory.limit_in_bytes on v1; on cgroup2, where memory.max
// exists only where the parent enables the controller (which a cgroup with
// processes cannot do), the core file cgroup.max.descendants. set is a
// value to write, which reads back the same; other is another writable
// file, for ownership checks.
type cgfsKnob struct {
	file, set, other string
}

func knobOf(cg *testenv.Cgroup) cgfsKnob {
	if cg.V2("memory") {
		return cgfsKnob{file: "cgroup.max.descendants", set: "100", other: "cgroup.max.depth"}
	}
	return cgfsKnob{file: "memory.limit_in_bytes", set: "104857600", other: "cgroup.clone_children"}
}

// cgfsWriteSetup starts a daemon and makes a test cgroup with a child
// "sub"; view is the cgroup's directory in the daemon's cgroup/ tree, k
// the memory-hierarchy file the write tests change.
func cgfsWriteSetup(t *testing.T) (d *testenv.Daemon, cg, sub *testenv.Cgroup, k cgfsKnob, view string) {
	t.Helper()
	d = setup(t)
	cg = newCgroup(t)
	sub = cg.Child("sub")
	k = knobOf(cg)
	view = d.Path("cgroup/" + cgfsHier(t, cg, "memory") + cg.Rel())
	return d, cg, sub, k, view
}

// realNames lists a real cgroup directory, with "." and "..".
func realNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{".", ".."}
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// cgfsAs is the prefix that runs a command as uid:uid with no
// supplementary groups and no capabilities: util-linux setpriv, or, where
// setpriv is busybox's (the v2 VM), util-linux nsenter without namespaces.
func cgfsAs(uid int) []string {
	id := strconv.Itoa(uid)
	if out, _ := exec.Command("setpriv", "--help").CombinedOutput(); strings.Contains(string(out), "--reuid") {
		return []string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups"}
	}
	return []string{"nsenter", "--setuid=" + id, "--setgid=" + id, "--"}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// cgfsOpenUp lets other uids reach the mount: t.TempDir makes the test's
// directories above it 0700.
func cgfsOpenUp(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	for dir := filepath.Dir(d.Mnt); strings.HasPrefix(dir, tmp+"/"); dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCgroupTreeSubtree: a reader sees the path down to its cgroup (each
// ancestor lists only the next step), its cgroup as it is, and nothing
// else; a sibling whose name has the reader's as a prefix is invisible.
func TestCgroupTreeSubtree(t *testing.T) {
	d := setup(t)
	cg := newCgroup(t)
	p := cg.Child("p")
	p.Child("below")
	cg.Child("pq")
	other := newCgroup(t)
	h := cgfsHier(t, cg, "memory")
	view := d.Path("cgroup/" + h)
	k := knobOf(cg)
	limit := k.file
	res, err := p.Do(
		testenv.Readdir(d.Path("cgroup")),
		testenv.Readdir(view),
		testenv.Readdir(view+cg.Rel()),
		testenv.Readdir(view+p.Rel()),
		testenv.Read(view+p.Rel()+"/"+limit),
		testenv.Stat(view+cg.Rel()+"/pq"),
		testenv.Stat(view+other.Rel()),
		testenv.Stat(view+cg.Rel()+"/"+limit),
		testenv.Read(view+p.Rel()+"/below/cgroup.procs"),
	)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res[:5] {
		if err := r.Error(); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if !slices.Contains(res[0].Names, h) {
		t.Errorf("cgroup/ lists %q, want %s among them", res[0].Names, h)
	}
	top := strings.Split(strings.TrimPrefix(cg.Rel(), "/"), "/")[0]
	if got, want := sorted(res[1].Names), sorted([]string{".", "..", top}); !slices.Equal(got, want) {
		t.Errorf("cgroup/%s lists %q, want %q (only the next step)", h, got, want)
	}
	if got, want := sorted(res[2].Names), sorted([]string{".", "..", "p"}); !slices.Equal(got, want) {
		t.Errorf("the parent of the reader's cgroup lists %q, want %q (no pq, no files)", got, want)
	}
	if got, want := sorted(res[3].Names), sorted(realNames(t, p.Path("memory"))); !slices.Equal(got, want) {
		t.Errorf("the reader's cgroup lists %q, want the real %q", got, want)
	}
	if got, want := string(res[4].Data[0]), hostFile(t, filepath.Join(p.Path("memory"), limit)); got != want {
		t.Errorf("%s reads %q, the real file %q", limit, got, want)
	}
	for _, r := range res[5:8] {
		if !errors.Is(r.Error(), syscall.ENOENT) {
			t.Errorf("stat %s: %v, want ENOENT", r.Op.Path, r.Error())
		}
	}
	if err := res[8].Error(); err != nil {
		t.Errorf("reading below the reader's cgroup: %v", err)
	}
}

// TestCgroupTreeWrites: root writes a child's limit, makes and removes
// cgroups through the view; rmdir is never recursive.
func TestCgroupTreeWrites(t *testing.T) {
	_, cg, sub, k, view := cgfsWriteSetup(t)
	limit := k.file
	real := cg.Path("memory")
	script := `set -e
echo "$4" > "$1/sub/$2"
mkdir "$1/made"
[ -d "$3/made" ]
rmdir "$1/made"
[ ! -e "$3/made" ]
mkdir "$1/outer" "$1/outer/inner"
if rmdir "$1/outer" 2>/dev/null; then echo "rmdir of a cgroup with a child succeeded"; exit 1; fi
[ -d "$3/outer/inner" ]
echo ok`
	out, stderr, err := cg.Run("sh", "-c", script, "sh", view, limit, real, k.set)
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("writes through the view: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	if got := sub.Get("memory", limit); got != k.set {
		t.Errorf("%s of the child after a write through the view: %s, want %s", limit, got, k.set)
	}
}

// TestCgroupTreeUnprivileged: an unprivileged uid reads but cannot write
// root-owned files, nor make cgroups in root-owned directories.
func TestCgroupTreeUnprivileged(t *testing.T) {
	d, cg, sub, k, view := cgfsWriteSetup(t)
	limit := k.file
	cgfsOpenUp(t, d)
	before := sub.Get("memory", limit)
	script := `cat "$1/sub/$2" >/dev/null || { echo "cannot read"; exit 1; }
if echo 5 > "$1/sub/$2"; then echo "wrote"; exit 1; fi
if mkdir "$1/sub/x"; then echo "made a cgroup"; exit 1; fi
echo ok`
	out, stderr, err := cg.Run(append(cgfsAs(65534), "sh", "-c", script, "sh", view, limit)...)
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("unprivileged: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	if !strings.Contains(stderr, "Permission denied") {
		t.Errorf("stderr %q does not say Permission denied", stderr)
	}
	if got := sub.Get("memory", limit); got != before {
		t.Errorf("%s changed from %s to %s", limit, before, got)
	}
	if _, err := os.Stat(filepath.Join(sub.Path("memory"), "x")); err == nil {
		t.Error("a cgroup was made")
	}
}

// TestCgroupTreeUserNamespace: root of a user namespace that maps uid
// 100000 acts as 100000: it owns what is delegated to 100000 (a chowned
// cgroup), and nothing of host root's; what it makes belongs to 100000.
func TestCgroupTreeUserNamespace(t *testing.T) {
	d, cg, sub, k, view := cgfsWriteSetup(t)
	limit := k.file
	dir := sub.Path("memory")
	for _, p := range []string{dir, filepath.Join(dir, limit), filepath.Join(dir, "cgroup.procs")} {
		if err := os.Chown(p, 100000, 100000); err != nil {
			t.Fatal(err)
		}
	}
	// Owned by a uid the namespace does not map: ns root is not its owner.
	if err := os.Chown(filepath.Join(dir, k.other), 100001, 100001); err != nil {
		t.Fatal(err)
	}
	cgfsOpenUp(t, d)
	before := cg.Get("memory", limit)
	script := `[ "$(id -u)" = 0 ] || { echo "not root in the namespace"; exit 1; }
echo "$3" > "$1/sub/$2" || { echo "cannot write the delegated file"; exit 1; }
if echo 5 > "$1/$2"; then echo "wrote host root's file"; exit 1; fi
if echo 1 > "$1/sub/$4"; then echo "wrote a file of an unmapped uid"; exit 1; fi
mkdir "$1/sub/child" || { echo "cannot make a cgroup in the delegated one"; exit 1; }
echo ok`
	out, stderr, err := cg.Run(append(cgfsAs(100000),
		"unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", view, limit, k.set, k.other)...)
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("user namespace: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	if got := sub.Get("memory", limit); got != k.set {
		t.Errorf("delegated %s = %s, want %s", limit, got, k.set)
	}
	if got := cg.Get("memory", limit); got != before {
		t.Errorf("host root's %s changed from %s to %s", limit, before, got)
	}
	st, err := os.Stat(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 100000 || s.Gid != 100000 {
		t.Errorf("the new cgroup belongs to %d:%d, want 100000:100000", s.Uid, s.Gid)
	}
}

// TestCgroupTreePidNamespace: pid lists show pids as the reader's pid
// namespace numbers them and leave out the rest (lxcfs prints 0 lines);
// a pid written is taken in the writer's namespace.
func TestCgroupTreePidNamespace(t *testing.T) {
	d := setup(t)
	cg := newCgroup(t)
	cg.Child("sub")
	ct := testenv.StartContainer(t, cg, testenv.ContainerOptions{})
	// A host process in the container's cgroup, invisible to it.
	host, err := cg.Start(nil, nil, "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	h := cgfsHier(t, cg, "memory")
	view := d.Path("cgroup/" + h + cg.Rel())
	out, stderr, err := ct.Run(cg, "cat", view+"/cgroup.procs")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	pids := lines(out)
	if slices.Contains(pids, "0") || slices.Contains(pids, strconv.Itoa(host.Pid)) || !slices.Contains(pids, "1") || len(pids) != 2 {
		t.Errorf("cgroup.procs in the container = %q; want its init (1) and the reader, nothing for host pid %d, no 0 lines", pids, host.Pid)
	}
	real := cg.Procs()
	if !slices.Contains(real, host.Pid) || !slices.Contains(real, ct.PID) {
		t.Fatalf("real cgroup.procs %v lacks host pid %d or init %d", real, host.Pid, ct.PID)
	}
	out, stderr, err = ct.Run(cg, "sh", "-c", `echo $$ > "$1/sub/cgroup.procs" && cat /proc/self/cgroup`, "sh", view)
	if err != nil {
		t.Fatalf("moving itself by its namespace pid: %v: %s", err, stderr)
	}
	want := cg.Rel() + "/sub"
	found := false
	for _, line := range lines(out) {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && (f[1] == h || (h == "unified" && f[1] == "")) {
			found = f[2] == want
		}
	}
	if !found {
		t.Errorf("after writing its pid to sub/cgroup.procs, /proc/self/cgroup is\n%s\nwant %s in %s", out, want, h)
	}
}

// TestCgroupTreeDisabled: --disable-cgroup leaves the tree out.
func TestCgroupTreeDisabled(t *testing.T) {
	d := setup(t, "--disable-cgroup")
	if _, err := os.Stat(d.Path("cgroup")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat cgroup with --disable-cgroup: %v", err)
	}
	es, err := os.ReadDir(d.Mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Name() == "cgroup" {
			t.Error("the root lists cgroup")
		}
	}
}

// TestCgroupTreeEnableFlag: lxcfs 6's --enable-cgroup is accepted (units
// written for lxcfs 6 pass it) and the tree is served, a named hierarchy
// under lxcfs's name (systemd, not name=systemd).
func TestCgroupTreeEnableFlag(t *testing.T) {
	d := setup(t, "--enable-cgroup")
	es, err := os.ReadDir(d.Path("cgroup"))
	if err != nil {
		t.Fatalf("cgroup/ with --enable-cgroup: %v", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
	}
	if len(got) == 0 {
		t.Fatal("cgroup/ is empty with --enable-cgroup")
	}
	for _, line := range lines(hostFile(t, "/proc/self/cgroup")) {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[1], "name=") {
			continue
		}
		name := strings.TrimPrefix(f[1], "name=")
		if !slices.Contains(got, name) || slices.Contains(got, f[1]) {
			t.Errorf("cgroup/ lists %q; want %s and not %s", got, name, f[1])
		}
	}
}

// TestCgroupTreeReference: the same listings and reads as lxcfs's cgroup/
// tree where lxcfs is right; where it is not, the difference is asserted.
func TestCgroupTreeReference(t *testing.T) {
	d := setup(t)
	ref := testenv.StartReference(t)
	cg := newCgroup(t)
	if cg.V2("memory") {
		t.Skip("the reference lxcfs serves cgroup/ for v1 hierarchies only")
	}
	p := cg.Child("p")
	p.Child("below")
	cg.Child("pq")
	k := knobOf(cg)
	limit := k.file
	rel := func(dd *testenv.Daemon, s string) string { return dd.Path("cgroup/memory" + s) }
	var ops []testenv.Op
	for _, dd := range []*testenv.Daemon{d, ref} {
		ops = append(ops,
			testenv.Readdir(rel(dd, cg.Rel())),
			testenv.Readdir(rel(dd, p.Rel())),
			testenv.Read(rel(dd, p.Rel()+"/"+limit)),
			testenv.Read(rel(dd, p.Rel()+"/below/"+limit)),
		)
	}
	res, err := p.Do(ops...)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := res[:4], res[4:]
	for i := range ours {
		if ours[i].Error() != nil || theirs[i].Error() != nil {
			t.Errorf("%s: ours %v, lxcfs %v", ops[i].Path, ours[i].Error(), theirs[i].Error())
			continue
		}
		if ours[i].Op.Kind == testenv.OpReaddir {
			if a, b := sorted(ours[i].Names), sorted(theirs[i].Names); !slices.Equal(a, b) {
				t.Errorf("%s: ours %q, lxcfs %q", ops[i].Path, a, b)
			}
			continue
		}
		if a, b := string(ours[i].Data[0]), string(theirs[i].Data[0]); a != b {
			t.Errorf("%s: ours %q, lxcfs %q", ops[i].Path, a, b)
		}
	}
	// Deliberate difference: a reader in another pid namespace. lxcfs
	// prints 0 for each pid it cannot translate; we leave them out.
	ct := testenv.StartContainer(t, cg, testenv.ContainerOptions{})
	if _, err := cg.Start(nil, nil, "sleep", "60"); err != nil {
		t.Fatal(err)
	}
	o, _, err1 := ct.Run(cg, "cat", rel(d, cg.Rel()+"/cgroup.procs"))
	r, _, err2 := ct.Run(cg, "cat", rel(ref, cg.Rel()+"/cgroup.procs"))
	if err1 != nil || err2 != nil {
		t.Fatalf("cgroup.procs in a pid namespace: ours %v, lxcfs %v", err1, err2)
	}
	if slices.Contains(lines(o), "0") {
		t.Errorf("ours shows 0 lines: %q", lines(o))
	}
	if !slices.Contains(lines(r), "0") {
		t.Logf("lxcfs no longer shows 0 lines for invisible pids: %q", lines(r))
	}
}

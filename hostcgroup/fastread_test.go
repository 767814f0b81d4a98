package hostcgroup

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// A reused pid is read afresh: ContainerInit and Cgroups describe the new
// process. ns_last_pid makes the next fork take the old pid.
func TestCacheReusedPid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to write ns_last_pid")
	}
	v := realView2(t)
	for attempt := 0; attempt < 50; attempt++ {
		a := exec.Command("sleep", "60")
		if err := a.Start(); err != nil {
			t.Skip(err)
		}
		pid := a.Process.Pid
		refA, _, err := v.ContainerInit(pid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Cgroups(pid); err != nil {
			t.Fatal(err)
		}
		statA, _ := v.host.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		a.Process.Kill()
		a.Wait()
		// Let the clock tick, so that the new process's start time differs.
		time.Sleep(20 * time.Millisecond)
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0o644); err != nil {
			t.Skip("ns_last_pid:", err)
		}
		b := exec.Command("cat")
		stdin, _ := b.StdinPipe()
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		if b.Process.Pid != pid {
			stdin.Close()
			b.Wait()
			continue // another fork took it
		}
		statB, err := v.host.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || !strings.Contains(string(statB), "(cat)") {
			t.Fatalf("reused pid %d: stat = %q, %v (old: %q)", pid, statB, err, statA)
		}
		refB, _, err := v.ContainerInit(pid)
		if err != nil {
			t.Fatal(err)
		}
		if refB.StartTicks == refA.StartTicks {
			t.Fatalf("reused pid %d: ContainerInit kept the old start time %d", pid, refA.StartTicks)
		}
		if _, err := v.Cgroups(pid); err != nil {
			t.Fatal(err)
		}
		stdin.Close()
		b.Wait()
		return
	}
	t.Skip("could not get a pid reused in 50 attempts")
}

func realView2(t *testing.T) *View {
	t.Helper()
	v, err := New(Options{})
	if err != nil {
		t.Skip("no usable /proc:", err)
	}
	return v
}

// testMemoryCgroup creates lxcfs-go-test-unit-<rnd>/<name> in the memory
// hierarchy of a real host; it returns its directory and its path in the
// hierarchy.
func testMemoryCgroup(t *testing.T, v *View) (parent string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if v.memory == nil || v.memory.Version != 1 || !v.kernelMemory || v.memory.Root != "/" {
		t.Skip("needs a v1 memory hierarchy mounted from its root")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	rel := "/lxcfs-go-test-unit-" + hex.EncodeToString(rnd[:])
	dir := v.memory.MountPoint + rel
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skip("cannot create a memory cgroup:", err)
	}
	t.Cleanup(func() { rmdirAll(dir) })
	return rel
}

// rmdirAll removes a cgroup tree, deepest first, retrying while tasks go.
func rmdirAll(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			rmdirAll(filepath.Join(dir, e.Name()))
		}
	}
	for i := 0; i < 100; i++ {
		if err := syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mkLimited(t *testing.T, v *View, rel string, limit int64) {
	t.Helper()
	dir := v.memory.MountPoint + rel
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/memory.limit_in_bytes", []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func memLimit(t *testing.T, v *View, rel string) Limit {
	t.Helper()
	s := v.Snapshot(Cgroups{V1: map[string]string{"memory": rel}}, WantMemory)
	if s.Memory == nil {
		t.Fatalf("no memory for %s", rel)
	}
	return s.Memory.Limit
}

// A cgroup removed and recreated under the same name with another limit
// shows the new limit at the next snapshot, although the old cgroup's files
// were kept open.
func TestCacheCgroupRecreated(t *testing.T) {
	v := realView2(t)
	parent := testMemoryCgroup(t, v)
	rel := parent + "/c"
	mkLimited(t, v, rel, 64<<20)
	if l := memLimit(t, v, rel); l != Bytes(64<<20) {
		t.Fatalf("limit = %+v, want 64 MiB", l)
	}
	if !v.host.Kept(v.memory.MountPoint + rel + "/memory.stat") {
		t.Fatal("memory.stat of a real cgroup not kept open")
	}
	if err := syscall.Rmdir(v.memory.MountPoint + rel); err != nil {
		t.Fatal(err)
	}
	if s := v.Snapshot(Cgroups{V1: map[string]string{"memory": rel}}, WantMemory); s.Memory != nil {
		t.Fatalf("removed cgroup has memory %+v", s.Memory)
	}
	mkLimited(t, v, rel, 32<<20)
	if l := memLimit(t, v, rel); l != Bytes(32<<20) {
		t.Fatalf("recreated: limit = %+v, want 32 MiB", l)
	}
	// Recreated again, with no read in between.
	syscall.Rmdir(v.memory.MountPoint + rel)
	mkLimited(t, v, rel, 16<<20)
	if l := memLimit(t, v, rel); l != Bytes(16<<20) {
		t.Fatalf("recreated twice: limit = %+v, want 16 MiB", l)
	}
	// A parent's smaller limit counts (hierarchical limit).
	if err := os.WriteFile(v.memory.MountPoint+parent+"/memory.limit_in_bytes", []byte(strconv.Itoa(8<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	if l := memLimit(t, v, rel); l != Bytes(8<<20) {
		t.Fatalf("under a smaller parent: limit = %+v, want 8 MiB", l)
	}
}

// A process moved to another cgroup gets that cgroup's values at once.
func TestCacheProcessMoved(t *testing.T) {
	v := realView2(t)
	parent := testMemoryCgroup(t, v)
	mkLimited(t, v, parent+"/a", 64<<20)
	mkLimited(t, v, parent+"/b", 32<<20)
	cmd := startSleep(t)
	pid := cmd.Process.Pid
	move := func(rel string) {
		t.Helper()
		if err := os.WriteFile(v.memory.MountPoint+rel+"/cgroup.procs", []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(rel string, want Limit) {
		t.Helper()
		ref, _, err := v.ContainerInit(pid)
		if err != nil {
			t.Fatal(err)
		}
		cg, err := v.Cgroups(ref.PID)
		if err != nil {
			t.Fatal(err)
		}
		if cg.V1["memory"] != rel {
			t.Fatalf("memory path = %q, want %q", cg.V1["memory"], rel)
		}
		if s := v.Snapshot(cg, WantMemory); s.Memory == nil || s.Memory.Limit != want {
			t.Fatalf("in %s: memory = %+v, want limit %+v", rel, s.Memory, want)
		}
	}
	move(parent + "/a")
	check(parent+"/a", Bytes(64<<20))
	move(parent + "/b")
	check(parent+"/b", Bytes(32<<20))
	move(parent + "/a")
	check(parent+"/a", Bytes(64<<20))
}

// On a real host the hierarchical_* shortcut gives what walking the
// ancestors' limit files gives.
func TestHierarchicalLimitsMatchWalk(t *testing.T) {
	v := realView2(t)
	if v.memory == nil || v.memory.Version != 1 || !v.kernelMemory {
		t.Skip("needs a real v1 memory hierarchy")
	}
	cg, err := v.Cgroups(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	fast := v.Snapshot(cg, WantMemory).Memory
	v.kernelMemory = false
	walk := v.Snapshot(cg, WantMemory).Memory
	if fast == nil || walk == nil {
		t.Skip("no memory cgroup for the test process")
	}
	if fast.Limit != walk.Limit {
		t.Fatalf("limit: hierarchical %+v, walk %+v", fast.Limit, walk.Limit)
	}
	if (fast.Swap == nil) != (walk.Swap == nil) || (fast.Swap != nil && fast.Swap.Limit != walk.Swap.Limit) {
		t.Fatalf("swap: hierarchical %+v, walk %+v", fast.Swap, walk.Swap)
	}
}

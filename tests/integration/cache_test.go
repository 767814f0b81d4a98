package integration

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// The daemon keeps cgroup and /proc files open between reads, caches each
// thread's process and each process's parsed cgroup file (issue 8). These
// tests check that none of that ever serves a caller stale values: after a
// move, a cgroup recreated under the same name, or a pid reused by another
// process, the next read at offset 0 shows the new values.

// memTotalLine reads the first line of meminfo ("MemTotal: N kB") in the
// shell itself (the read builtin with a redirection forks nothing), so the
// FUSE caller is the same process every time.
const readMemTotal = `read -r l < "$F"; echo "$l"`

func memTotalKB(t *testing.T, line string) uint64 {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "MemTotal:" {
		t.Fatalf("not a MemTotal line: %q", line)
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// joinAll is shell that moves the shell itself into every cgroup.procs
// file of cg.
func joinAll(cg *testenv.Cgroup) string {
	var b strings.Builder
	for _, f := range cg.ProcsFiles() {
		b.WriteString(`echo $$ > '` + f + "'\n")
	}
	return b.String()
}

// One process reads, moves itself to another cgroup, reads again, and back:
// every read shows the cgroup it is in at that moment.
func TestCacheProcessMoved(t *testing.T) {
	d := setup(t)
	root := newCgroup(t)
	a := root.Child("a").MemoryLimit(256 * MiB)
	b := root.Child("b").MemoryLimit(128 * MiB)
	script := "F=" + d.Path(meminfo) + "\n" +
		readMemTotal + "\n" + joinAll(b) + readMemTotal + "\n" +
		joinAll(a) + readMemTotal + "\n" + joinAll(b) + readMemTotal + "\n"
	out, stderr, err := a.Run("sh", "-c", script)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	got := lines(strings.TrimSpace(out))
	want := []uint64{256 * 1024, 128 * 1024, 256 * 1024, 128 * 1024}
	if len(got) != len(want) {
		t.Fatalf("output %q", out)
	}
	for i, w := range want {
		if kb := memTotalKB(t, got[i]); kb != w {
			t.Errorf("read %d: MemTotal %d kB, want %d (reads: %q)", i, kb, w, got)
		}
	}
}

// removeCgroup removes cg from every hierarchy (it must be empty).
func removeCgroup(t *testing.T, cg *testenv.Cgroup) {
	t.Helper()
	for _, f := range cg.ProcsFiles() {
		dir := filepath.Dir(f)
		var err error
		for range 200 {
			if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("rmdir %s: %v", dir, err)
		}
	}
}

// A cgroup removed and created again under the same name with other limits
// shows the new limits: the daemon's open files of the old cgroup are dead.
func TestCacheCgroupRecreated(t *testing.T) {
	d := setup(t)
	root := newCgroup(t)
	limits := []int64{256 * MiB, 128 * MiB, 192 * MiB}
	for i, limit := range limits {
		cg := root.Child("x").MemoryLimit(limit)
		for range 2 { // the second read is served from whatever was kept
			if got := memTotal(t, cg.MustRead(d.Path(meminfo))); got != uint64(limit/1024) {
				t.Fatalf("generation %d: MemTotal %d kB, want %d", i, got, limit/1024)
			}
		}
		removeCgroup(t, cg)
	}
	// A limit change on a live cgroup shows at once too.
	cg := root.Child("y").MemoryLimit(256 * MiB)
	if got := memTotal(t, cg.MustRead(d.Path(meminfo))); got != 256*1024 {
		t.Fatalf("MemTotal %d kB, want %d", got, 256*1024)
	}
	cg.MemoryLimit(64 * MiB)
	if got := memTotal(t, cg.MustRead(d.Path(meminfo))); got != 64*1024 {
		t.Fatalf("after the change: MemTotal %d kB, want %d", got, 64*1024)
	}
}

// A pid reused by a process in another cgroup reads that cgroup's values.
// ns_last_pid steers the next fork onto the old pid; on a busy host another
// fork may take it first, so it is tried a number of times.
func TestCacheReusedPid(t *testing.T) {
	d := setup(t)
	root := newCgroup(t)
	a := root.Child("a").MemoryLimit(256 * MiB)
	b := root.Child("b").MemoryLimit(128 * MiB)
	script := "F=" + d.Path(meminfo) + "\necho $$\n" + readMemTotal + "\n"
	run := func(cg *testenv.Cgroup) (int, uint64) {
		t.Helper()
		out, stderr, err := cg.Run("sh", "-c", script)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		l := lines(strings.TrimSpace(out))
		if len(l) != 2 {
			t.Fatalf("output %q", out)
		}
		pid, err := strconv.Atoi(l[0])
		if err != nil {
			t.Fatal(err)
		}
		return pid, memTotalKB(t, l[1])
	}
	// The second process is forked by a shell right after it sets
	// ns_last_pid, so that nothing else takes the pid in between; the
	// attempts are bounded in time (each is two processes and two FUSE
	// reads, slow under emulation).
	deadline := time.Now().Add(20 * time.Second)
	attempts := 0
	for ; attempts < 100 && time.Now().Before(deadline); attempts++ {
		pid, kb := run(a)
		if kb != 256*1024 {
			t.Fatalf("first process: MemTotal %d kB, want %d", kb, 256*1024)
		}
		// Let the clock tick so that start times differ as well.
		time.Sleep(20 * time.Millisecond)
		if _, err := os.Stat("/proc/sys/kernel/ns_last_pid"); err != nil {
			t.Skip("ns_last_pid:", err)
		}
		out, stderr, err := b.Run("sh", "-c", "echo $(($1 - 1)) > /proc/sys/kernel/ns_last_pid && sh -c \"$2\"", "sh", strconv.Itoa(pid), script)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		l := lines(strings.TrimSpace(out))
		if len(l) != 2 {
			t.Fatalf("output %q", out)
		}
		if pid2, _ := strconv.Atoi(l[0]); pid2 != pid {
			continue
		}
		if kb2 := memTotalKB(t, l[1]); kb2 != 128*1024 {
			t.Fatalf("pid %d reused in another cgroup: MemTotal %d kB, want %d", pid, kb2, 128*1024)
		}
		t.Logf("pid %d reused after %d attempts", pid, attempts+1)
		return
	}
	t.Skipf("no pid was reused in %d attempts", attempts)
}

package hostcgroup

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// realCgroup makes a cgroup below root (a real cgroupfs mount) with n
// sleeping processes and busy busy loops; it skips without root or without
// that hierarchy.
func realCgroup(t *testing.T, root string, sleepers, busy int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	if _, err := os.Stat(root + "/cgroup.procs"); err != nil {
		t.Skipf("no cgroup hierarchy at %s", root)
	}
	dir := filepath.Join(root, "lxcfs-go-test-load-"+strconv.Itoa(os.Getpid())+"-"+filepath.Base(t.Name()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.Remove(dir) == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	// startIn's cleanups, registered later, kill the processes first.
	for range sleepers {
		startIn(t, dir, "sleep", "300")
	}
	for range busy {
		startIn(t, dir, "sh", "-c", "while :; do :; done")
	}
	return dir
}

func TestLoadCounterReal(t *testing.T) {
	for _, tc := range []struct {
		name string
		root string
		v1   bool
	}{
		{"v1-taskstats", "/sys/fs/cgroup/cpu", true},
		{"v2-pread", "/sys/fs/cgroup/unified", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.v1 {
				if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.threads"); err != nil {
					if _, err := os.Stat("/sys/fs/cgroup/cgroup.threads"); err == nil {
						tc.root = "/sys/fs/cgroup"
					}
				}
			}
			dir := realCgroup(t, tc.root, 5, 2)
			if tc.v1 {
				os.WriteFile(dir+"/cpu.cfs_quota_us", []byte("20000"), 0)
			}
			c := NewLoadCounter("/proc")
			defer c.Close()
			cg := LoadCgroup{Dir: dir, V1: tc.v1}
			var n LoadCount
			var err error
			for range 20 {
				n, err = c.Count(cg)
				if err != nil {
					t.Fatal(err)
				}
				// Until the sleepers have exec'd and gone to sleep.
				if n.Total == 7 && n.Active() >= 1 && n.Active() <= 2 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("method %s: %+v", c.Method(cg), n)
			if n.Total != 7 || n.Active() < 1 || n.Active() > 2 || n.LastPID == 0 {
				t.Errorf("count = %+v, want total 7, 1-2 active, a last pid", n)
			}
			if tc.v1 && c.Method(cg) != "taskstats" {
				t.Errorf("v1 counted by %s, want taskstats", c.Method(cg))
			}
		})
	}
}

func TestLoadCounterGone(t *testing.T) {
	c := NewLoadCounter("/proc")
	defer c.Close()
	for _, v1 := range []bool{true, false} {
		_, err := c.Count(LoadCgroup{Dir: t.TempDir() + "/none", V1: v1})
		if !errors.Is(err, ErrCgroupGone) {
			t.Errorf("v1=%v: err = %v, want ErrCgroupGone", v1, err)
		}
	}
}

// BenchmarkLoadCounter measures one sample of a cgroup with 25 sleeping
// tasks: taskstats (v1), kept-open pread fds (v2), and lxcfs's way (open,
// read and close /proc/<pid>/task/<tid>/status per thread) for comparison.
//
//	go test -run '^$' -bench LoadCounter ./hostcgroup/   (as root)
func BenchmarkLoadCounter(b *testing.B) {
	for _, bc := range []struct {
		name string
		root string
		v1   bool
	}{
		{"taskstats-v1", "/sys/fs/cgroup/cpu", true},
		{"pread-v2", "/sys/fs/cgroup/unified", false},
		{"lxcfs-style", "/sys/fs/cgroup/cpu", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if os.Geteuid() != 0 {
				b.Skip("needs root")
			}
			if _, err := os.Stat(bc.root + "/cgroup.procs"); err != nil {
				b.Skipf("no %s", bc.root)
			}
			dir := filepath.Join(bc.root, "lxcfs-go-test-bench-"+strconv.Itoa(os.Getpid()))
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			var cmds []*exec.Cmd
			defer func() {
				for _, c := range cmds {
					c.Process.Kill()
					c.Wait()
				}
				for range 50 {
					if os.Remove(dir) == nil {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			for range 25 {
				c := exec.Command("sleep", "300")
				if err := c.Start(); err != nil {
					b.Fatal(err)
				}
				cmds = append(cmds, c)
				os.WriteFile(dir+"/cgroup.procs", []byte(strconv.Itoa(c.Process.Pid)), 0)
			}
			c := NewLoadCounter("/proc")
			defer c.Close()
			cg := LoadCgroup{Dir: dir, V1: bc.v1}
			if bc.name == "pread-v2" {
				cg.V1 = false
			}
			b.ResetTimer()
			for b.Loop() {
				if bc.name == "lxcfs-style" {
					lxcfsStyleCount(dir)
					continue
				}
				if n, err := c.Count(cg); err != nil || n.Total != 25 {
					b.Fatalf("%+v %v", n, err)
				}
			}
		})
	}
}

// lxcfsStyleCount is lxcfs's refresh_load: cgroup.procs, then per process
// its task directory, then per thread its status file.
func lxcfsStyleCount(dir string) (running, total int) {
	b, _ := os.ReadFile(dir + "/cgroup.procs")
	for _, p := range strings.Fields(string(b)) {
		tasks, _ := os.ReadDir("/proc/" + p + "/task")
		for _, tk := range tasks {
			s, err := os.ReadFile("/proc/" + p + "/task/" + tk.Name() + "/status")
			if err != nil {
				continue
			}
			if i := strings.Index(string(s), "State:\t"); i >= 0 && i+7 < len(s) {
				if s[i+7] == 'R' || s[i+7] == 'D' {
					running++
				}
			}
			total++
		}
	}
	return running, total
}

// TestLoadCounterTaskListReused: with taskstats, the thread total and last
// pid come from the tasks file at most TaskListRefresh old, while the
// running count is taken at every sample.
func TestLoadCounterTaskListReused(t *testing.T) {
	dir := realCgroup(t, "/sys/fs/cgroup/cpu", 3, 0)
	c, cg, now := taskstatsCounter(t, dir)
	first, err := c.Count(cg)
	if err != nil {
		t.Fatal(err)
	}
	if first.Total != 3 {
		t.Fatalf("total %d, want 3", first.Total)
	}
	// A new sleeper within the refresh is not seen in the total...
	sleeper := startIn(t, dir, "sleep", "300")
	// Until it sleeps it counts as active, and more active threads than the
	// total read the list again (below): wait for it to sleep.
	waitSleeping(t, sleeper.Process.Pid)
	*now = now.Add(TaskListRefresh / 2)
	if n, err := c.Count(cg); err != nil || n.Total != 3 {
		t.Errorf("within the refresh: %+v %v, want the old total 3", n, err)
	}
	// ...but more active threads than the total read the list again.
	more := startIn(t, dir, "sh", "-c", "while :; do :; done")
	n := countUntilRunning(t, c, cg)
	if n.Running < 1 || n.Total < n.Running+n.Uninterruptible {
		t.Errorf("a running thread: %+v, want a total of at least the active threads", n)
	}
	*now = now.Add(TaskListRefresh)
	if n, err = c.Count(cg); err != nil || n.Total != 5 || n.LastPID < max(more.Process.Pid, sleeper.Process.Pid) {
		t.Errorf("after the refresh: %+v %v, want total 5 and the newest pid", n, err)
	}
}

// TestLoadCounterTotalCoversActive: a cached total below the threads just
// counted as active is read again, so a loadavg line never shows more
// running threads than threads.
func TestLoadCounterTotalCoversActive(t *testing.T) {
	c, cg, _ := taskstatsCounter(t, realCgroup(t, "/sys/fs/cgroup/cpu", 0, 0))
	dir := cg.Dir
	if n, err := c.Count(cg); err != nil || n.Total != 0 {
		t.Fatalf("empty cgroup: %+v %v", n, err)
	}
	startIn(t, dir, "sh", "-c", "while :; do :; done")
	n := countUntilRunning(t, c, cg)
	if n.Running < 1 {
		t.Fatal("the busy loop was never counted as running")
	}
	if n.Total != 1 {
		t.Errorf("%+v: total %d, want 1 (the busy loop)", n, n.Total)
	}
}

// startIn starts args in the cgroup dir; the cleanup kills it.
func startIn(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(args[0], args[1:]...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	if err := os.WriteFile(dir+"/cgroup.procs", []byte(strconv.Itoa(c.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitSleeping waits, for at most 10 s (a loaded machine), until pid is in
// state S.
func waitSleeping(t *testing.T, pid int) {
	t.Helper()
	for range 400 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'S' {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("pid %d never slept", pid)
}

// countUntilRunning counts cg until a thread is seen running (a busy loop
// just started), for at most 5 s (a loaded machine).
func countUntilRunning(t *testing.T, c *LoadCounter, cg LoadCgroup) LoadCount {
	t.Helper()
	var n LoadCount
	for range 200 {
		var err error
		if n, err = c.Count(cg); err != nil {
			t.Fatal(err)
		}
		if n.Running >= 1 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	return n
}

// taskstatsCounter is a counter of the v1 cgroup dir by taskstats (the test
// skips without it) whose clock is *now, starting at a fixed time.
func taskstatsCounter(t *testing.T, dir string) (*LoadCounter, LoadCgroup, *time.Time) {
	t.Helper()
	c := NewLoadCounter("/proc")
	t.Cleanup(c.Close)
	cg := LoadCgroup{Dir: dir, V1: true}
	if c.Method(cg) != "taskstats" {
		t.Skip("taskstats unavailable")
	}
	now := time.Unix(1000, 0)
	c.Now = func() time.Time { return now }
	return c, cg, &now
}

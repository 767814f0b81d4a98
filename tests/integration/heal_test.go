package integration

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// noHolder runs the daemon without an fd holder: a crash then kills the
// connection, which is what remount and the start-up recovery are for.
var noHolder = []string{"LXCFS_GO_FD_HOLDER=none"}

// TestRemountHeals: a process in a mount namespace of its own (a container,
// as far as mounts go) has lxcfs-go files bound over its /proc/meminfo and
// /proc/uptime. The daemon is killed with nobody keeping the connection, so
// those binds fail with ENOTCONN; a new daemon mounts afresh, and
// "lxcfs-go remount" binds the new files in place of the dead ones inside
// that namespace, with no restart of the process.
func TestRemountHeals(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	t.Parallel()
	heal(t, false)
}

// TestRemountAtStart: the same, healed by the restarted daemon itself
// (LXCFS_GO_REMOUNT_AT_START=1).
func TestRemountAtStart(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	t.Parallel()
	heal(t, true)
}

func heal(t *testing.T, atStart bool) {
	env := noHolder
	if atStart {
		env = append([]string{"LXCFS_GO_REMOUNT_AT_START=1"}, noHolder...)
	}
	d := testenv.StartLiveDaemon(t, env)
	script := fmt.Sprintf(`mount --bind %s /proc/meminfo && mount --bind %s /proc/uptime && echo ready && exec sleep infinity`,
		d.Path(meminfo), d.Path(uptime))
	ct := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	ct.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := ct.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	ct.Stderr = &stderr
	if err := ct.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ct.Process.Kill(); ct.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("container: %q %v; stderr %s", line, err, stderr.String())
	}
	inside := func(file string) (string, error) {
		b, err := exec.Command("nsenter", "--target", strconv.Itoa(ct.Process.Pid), "--mount", "--", "cat", file).CombinedOutput()
		return string(b), err
	}
	if got, err := inside("/proc/meminfo"); err != nil || !strings.HasPrefix(got, "MemTotal:") {
		t.Fatalf("container /proc/meminfo before the crash: %v %q", err, got)
	}

	d.Kill()
	got, err := inside("/proc/meminfo")
	if err == nil || !strings.Contains(got, "not connected") {
		t.Fatalf("container /proc/meminfo after the daemon was killed: %v %q, want ENOTCONN", err, got)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if atStart {
		for _, f := range []string{"/proc/meminfo", "/proc/uptime"} {
			if got, err := inside(f); err != nil || got == "" {
				t.Errorf("container %s after the restart: %v %q", f, err, got)
			}
		}
		if n := strings.Count(d.Log(), "remount: healed"); n < 2 {
			t.Errorf("%d \"remount: healed\" lines in the log, want 2 or more", n)
		}
		return
	}
	if got, err := inside("/proc/meminfo"); err == nil {
		t.Fatalf("container /proc/meminfo healed by itself? %q", got)
	}

	rem, err := exec.Command(d.Binary, "remount", "-p", d.Pidfile, d.Mnt).CombinedOutput()
	t.Logf("lxcfs-go remount:\n%s", rem)
	if err != nil {
		t.Fatalf("lxcfs-go remount: %v", err)
	}
	// The namespace's copy of the mount point itself is healed too.
	for _, want := range []string{"/proc/meminfo (/proc/meminfo): healed", "/proc/uptime (/proc/uptime): healed"} {
		if !strings.Contains(string(rem), want) {
			t.Errorf("remount output lacks %q", want)
		}
	}
	for _, f := range []string{"/proc/meminfo", "/proc/uptime"} {
		got, err := inside(f)
		if err != nil {
			t.Errorf("container %s after remount: %v %q", f, err, got)
		}
		host, _ := os.ReadFile(f)
		if f == "/proc/meminfo" && (!strings.HasPrefix(got, "MemTotal:") || len(got) == 0 || len(host) == 0) {
			t.Errorf("container %s after remount: %q", f, firstLine([]byte(got)))
		}
	}
	// The live copy took the dead mount's place: one mount on each file,
	// none left beneath (MOVE_MOUNT_BENEATH, then the dead one detached).
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", ct.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/proc/meminfo", "/proc/uptime"} {
		n := 0
		for _, line := range strings.Split(string(mi), "\n") {
			if fields := strings.Fields(line); len(fields) > 4 && fields[4] == f {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d mounts on %s in the container after remount, want 1", n, f)
		}
	}
	// Nothing is left to heal in the container. (Other tests running in
	// parallel may have namespaces with copies of this test's dead mounts,
	// which remount heals too.)
	rem, err = exec.Command(d.Binary, "remount", "-p", d.Pidfile, "-n", d.Mnt).CombinedOutput()
	if err != nil || strings.Contains(string(rem), fmt.Sprintf("pid %d ", ct.Process.Pid)) {
		t.Errorf("second remount: %v\n%s", err, rem)
	}
}

// TestDeadMountpointAtStart: a daemon started on a mount point whose
// connection died with its killed predecessor (ENOTCONN) detaches it and
// mounts afresh.
func TestDeadMountpointAtStart(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	t.Parallel()
	d := testenv.StartLiveDaemon(t, noHolder)
	_, dev0, _ := testenv.MountInfo(d.Mnt)
	d.Kill()
	if _, err := os.ReadFile(d.Path(meminfo)); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("read after the kill: %v, want ENOTCONN", err)
	}
	start := time.Now()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered in %v", time.Since(start).Round(time.Millisecond))
	// (The new mount may get the dead one's device number: that was
	// freed when the dead mount was detached.)
	if _, dev, ok := testenv.MountInfo(d.Mnt); !ok {
		t.Errorf("nothing mounted after the restart (the dead mount was %s)", dev0)
	} else {
		t.Logf("dead mount %s, new mount %s", dev0, dev)
	}
	if b, err := os.ReadFile(d.Path(meminfo)); err != nil || !strings.HasPrefix(string(b), "MemTotal:") {
		t.Errorf("%s after the restart: %v", meminfo, err)
	}
	// Only one mount is left at the mount point: the dead one was detached.
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if n := strings.Count(string(mi), " "+d.Mnt+" "); n != 1 {
		t.Errorf("%d mounts at %s, want 1", n, d.Mnt)
	}
}

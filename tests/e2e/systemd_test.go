package e2e

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

const unitFile = "deploy/systemd/lxcfs-go.service"

// unitFor rewrites the unit's paths for a test: the daemon binary and the
// mount point.
func unitFor(t *testing.T, bin, mnt string) string {
	t.Helper()
	b, err := os.ReadFile(repo(t, unitFile))
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(b), "/usr/bin/lxcfs-go", bin)
	return strings.ReplaceAll(unit, "/var/lib/lxcfs", mnt)
}

// TestSystemdUnitVerify runs systemd-analyze verify on the unit. It needs
// no running systemd, but it checks that the programs the unit runs exist,
// so the daemon's path is replaced by the test's binary.
func TestSystemdUnitVerify(t *testing.T) {
	ensureTools(t, tool{"systemd-analyze", "systemd"})
	dir := t.TempDir()
	unit := filepath.Join(dir, "lxcfs-go.service")
	if err := os.WriteFile(unit, []byte(unitFor(t, testenv.DaemonBinary(t), "/var/lib/lxcfs")), 0o644); err != nil {
		t.Fatal(err)
	}
	// Any output is a finding: unknown keys are only warnings (exit 0).
	out, err := command(time.Minute, "systemd-analyze", "verify", "--man=no", unit)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// What docs/systemd.md and the issue promise the unit does.
	keys := unitKeys(t, unitFor(t, "/usr/bin/lxcfs-go", "/var/lib/lxcfs"))
	for key, want := range map[string]string{
		"Type":                    "notify",
		"ConditionVirtualization": "!container",
		"Before":                  "lxc.service",
		"ExecStart":               "/usr/bin/lxcfs-go -f -l /var/lib/lxcfs",
		"ExecReload":              "/bin/kill -USR1 $MAINPID",
		"Restart":                 "on-failure",
		"RestartSec":              "100ms",
		"OOMPolicy":               "continue",
		"OOMScoreAdjust":          "-1000",
		"KillMode":                "process",
		"FileDescriptorStoreMax":  "8",
		"Delegate":                "yes",
		"WantedBy":                "multi-user.target",
	} {
		if got := keys[key]; got != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	// systemd runs ExecStopPost before every automatic restart too: an
	// unmount there would take the mount from under the fd holder that
	// keeps it across a crash (docs/upgrade.md).
	if v, ok := keys["ExecStopPost"]; ok {
		t.Errorf("ExecStopPost=%q: the daemon recovers dead mounts itself; an unmount after a crash breaks containers", v)
	}
	// Nothing may touch the mount point before the daemon serves: after a
	// crash it is still mounted and unserved, and "mkdir -p" (which stats
	// it) waited there while systemd waited for it to start the daemon.
	if v, ok := keys["ExecStartPre"]; ok {
		t.Errorf("ExecStartPre=%q: the daemon creates the mount point; a command touching it before a restart blocks", v)
	}
}

// unitKeys maps each key of a unit file to its last value.
func unitKeys(t *testing.T, unit string) map[string]string {
	t.Helper()
	keys := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			keys[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return keys
}

// TestSystemdUnitLifecycle does what systemd does with the unit, without
// systemd: ExecStart with a NOTIFY_SOCKET until READY=1,
// ExecReload, SIGTERM to the main process, ExecStopPost.
func TestSystemdUnitLifecycle(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	bin := testenv.DaemonBinary(t)
	mnt := filepath.Join(t.TempDir(), "lxcfs")
	keys := unitKeys(t, unitFor(t, bin, mnt))

	// The mount point does not exist: the daemon makes it.

	// systemd's notify socket: a datagram socket named in NOTIFY_SOCKET.
	sockPath := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	notes := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := sock.ReadFromUnix(buf)
			if err != nil {
				close(notes)
				return
			}
			notes <- string(buf[:n])
		}
	}()

	args := strings.Fields(keys["ExecStart"])
	main := exec.Command(args[0], append(args[1:], "-p", filepath.Join(t.TempDir(), "pid"))...)
	main.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath)
	var stderr strings.Builder
	main.Stdout, main.Stderr = &stderr, &stderr
	main.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := main.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = main.Wait(); close(exited) }()
	t.Cleanup(func() {
		main.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			main.Process.Kill()
		}
		command(10*time.Second, "umount", "-l", mnt)
		if t.Failed() {
			t.Logf("daemon output:\n%s", stderr.String())
		}
	})

	// Type=notify: systemd waits for READY=1 (90 s by default) before it
	// starts lxc.service.
	startedAt := time.Now()
	if !waitNote(t, notes, "READY=1", 10*time.Second) {
		t.Errorf("no READY=1 on NOTIFY_SOCKET within 10s: under Type=notify systemd would fail the start")
	}
	t.Logf("READY=1 after %v", time.Since(startedAt))
	meminfo := filepath.Join(mnt, "proc/meminfo")
	if _, err := os.ReadFile(meminfo); err != nil {
		t.Fatalf("after READY=1, %s: %v", meminfo, err)
	}

	// ExecReload: SIGUSR1 hands the mount to a successor started from the
	// binary on disk, which systemd is told is the main process now
	// (MAINPID=); the mount keeps answering.
	oldMain := main.Process.Pid
	reload := strings.ReplaceAll(keys["ExecReload"], "$MAINPID", strconv.Itoa(oldMain))
	if out, err := command(time.Minute, "sh", "-c", reload); err != nil {
		t.Fatalf("ExecReload: %v\n%s", err, out)
	}
	newMain := waitMainPID(t, notes, oldMain, 20*time.Second)
	if newMain == 0 {
		t.Fatalf("no MAINPID= other than %d on NOTIFY_SOCKET within 20s of ExecReload", oldMain)
	}
	t.Logf("ExecReload: main pid %d -> %d", oldMain, newMain)
	if _, err := os.ReadFile(meminfo); err != nil {
		t.Fatalf("%s after ExecReload: %v", meminfo, err)
	}
	// (The old main process's stderr pipe stays open in the successor, so
	// exec's Wait returns only when the successor exits.)

	// Stop: KillMode=process sends SIGTERM to the main process only.
	syscall.Kill(newMain, syscall.SIGTERM)
	select {
	case <-exited:
		var exit *exec.ExitError
		if errors.As(waitErr, &exit) {
			t.Errorf("the first daemon exited with %v after the hand-over; systemd would count a failure", waitErr)
		} else if waitErr != nil {
			t.Errorf("daemon: %v", waitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not exit within 10s of SIGTERM")
	}
	for i := 0; i < 100 && pidRuns(newMain); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if pidRuns(newMain) {
		t.Errorf("main process %d still runs after SIGTERM", newMain)
	}
	if _, err := os.Stat(meminfo); err == nil {
		t.Errorf("%s is still there after stop", meminfo)
	}
}

// waitMainPID returns the first MAINPID= other than old that arrives.
func waitMainPID(t *testing.T, notes <-chan string, old int, timeout time.Duration) int {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case n, ok := <-notes:
			if !ok {
				return 0
			}
			for _, line := range strings.Split(n, "\n") {
				if v, ok := strings.CutPrefix(line, "MAINPID="); ok {
					if pid, err := strconv.Atoi(v); err == nil && pid != old {
						return pid
					}
				}
			}
		case <-deadline:
			return 0
		}
	}
}

// pidRuns reports whether pid is a live process (not a zombie).
func pidRuns(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func waitNote(t *testing.T, notes <-chan string, want string, timeout time.Duration) bool {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case n, ok := <-notes:
			if !ok {
				return false
			}
			for _, line := range strings.Split(n, "\n") {
				if line == want {
					return true
				}
			}
		case <-deadline:
			return false
		}
	}
}

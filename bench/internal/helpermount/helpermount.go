// Package helpermount starts a benchmark's FUSE server in a child process:
// the benchmark binary re-executed with a role, serving on a new mount
// point until the test ends.
package helpermount

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Start runs "<this binary> role MNT args..." and waits until MNT is a
// FUSE mount with proc/meminfo; it returns MNT and the child's pid. The
// child gets SIGTERM when the test ends (or when this process dies), and
// the mount is detached after it.
func Start(t *testing.T, role string, args ...string) (string, int) {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), role)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{role, mnt}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		unix.Unmount(mnt, unix.MNT_DETACH)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st unix.Statfs_t
		if unix.Statfs(mnt, &st) == nil && st.Type == unix.FUSE_SUPER_MAGIC {
			if _, err := os.Stat(filepath.Join(mnt, "proc/meminfo")); err == nil {
				return mnt, cmd.Process.Pid
			}
		}
		select {
		case err := <-done:
			t.Fatalf("%s exited: %v", role, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not mount %s", role, mnt)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

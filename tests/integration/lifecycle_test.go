package integration

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
	"golang.org/x/sys/unix"
)

// TestLifecycle: the pidfile holds the daemon's pid; a second instance with
// the same pidfile exits non-zero and leaves it alone (lxcfs deletes it);
// SIGTERM unmounts and removes the pidfile (docs/operating.md).
func TestLifecycle(t *testing.T) {
	d := setup(t)
	pidfile := func() string {
		b, err := os.ReadFile(d.Pidfile)
		if err != nil {
			return err.Error()
		}
		return strings.TrimSpace(string(b))
	}
	if got := pidfile(); got != strconv.Itoa(d.PID) {
		t.Errorf("pidfile has %q, want %d", got, d.PID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testenv.StopTimeout)
	defer cancel()
	mnt2 := filepath.Join(t.TempDir(), "second")
	if err := os.Mkdir(mnt2, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt2, unix.MNT_DETACH) }) // in case it did mount
	second := exec.CommandContext(ctx, d.Binary, "-f", "-p", d.Pidfile, mnt2)
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || ctx.Err() != nil {
		t.Errorf("second instance with the same pidfile: %v (output %q), want a non-zero exit", err, out)
	}
	if got := pidfile(); got != strconv.Itoa(d.PID) {
		t.Errorf("after a second instance, pidfile has %q, want %d", got, d.PID)
	}
	if _, err := os.Stat(d.Path(meminfo)); err != nil {
		t.Errorf("first instance no longer serves after a second start: %v", err)
	}

	start := time.Now()
	if err := d.Stop(); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	t.Logf("stopped in %v, exit status %v", time.Since(start), d.ExitErr())
	if _, err := os.Stat(d.Pidfile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pidfile after SIGTERM: %v, want removed", err)
	}
}

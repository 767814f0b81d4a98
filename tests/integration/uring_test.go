package integration

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// setURingParam sets enable_uring to v for the test and puts back the value
// found, also when the test fails.
func setURingParam(t *testing.T, v string) {
	t.Helper()
	b, err := os.ReadFile(fs.URingParam)
	if err != nil {
		t.Skipf("no FUSE over io_uring on this kernel: %v", err)
	}
	old := strings.TrimSpace(string(b))
	if err := fs.SetURingParam(v); err != nil {
		t.Skipf("cannot set enable_uring: %v", err)
	}
	t.Cleanup(func() {
		if err := fs.SetURingParam(old); err != nil {
			t.Errorf("restoring enable_uring=%s: %v", old, err)
		}
	})
}

// waitLog waits until the daemon's log has want.
func waitLog(t *testing.T, d *testenv.Daemon, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.Stderr(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", want, d.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestURingTransportChoice: with rings permitted, --fuse-uring=auto keeps
// the classic loop while crash survival is on (a ring cannot outlive the
// process that registered it: the fallback), serves on rings without a
// holder, and --fuse-uring=on serves on rings regardless; each says so in
// the log, and every file reads.
func TestURingTransportChoice(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	setURingParam(t, "Y")
	read := func(d *testenv.Daemon) {
		t.Helper()
		for _, f := range []string{"proc/meminfo", "proc/uptime", "proc/stat", "sys/devices/system/cpu/online"} {
			if _, err := os.ReadFile(d.Path(f)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	t.Run("auto with holder", func(t *testing.T) {
		d := testenv.StartDaemon(t, "--fuse-uring=auto")
		waitLog(t, d, "FUSE transport: classic: rings cannot outlive")
		read(d)
	})
	t.Run("on with holder", func(t *testing.T) {
		d := testenv.StartDaemon(t, "--fuse-uring=on")
		waitLog(t, d, "transport=io_uring")
		read(d)
	})
	t.Run("auto without holder", func(t *testing.T) {
		t.Setenv("LXCFS_GO_FD_HOLDER", "none")
		d := testenv.StartDaemon(t, "--fuse-uring=auto")
		waitLog(t, d, "transport=io_uring")
		read(d)
	})
}

// TestURingOnPermitsForItsMount: --fuse-uring=on as root, where
// enable_uring is N, permits rings for its own mount and puts N back once
// INIT is answered; the connection keeps serving on rings.
func TestURingOnPermitsForItsMount(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	setURingParam(t, "N")
	d := testenv.StartDaemon(t, "--fuse-uring=on")
	waitLog(t, d, "transport=io_uring")
	if _, err := os.ReadFile(d.Path("proc/meminfo")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fs.URingParam); strings.TrimSpace(string(b)) != "N" {
		t.Errorf("enable_uring is %q after the mount, want N back", b)
	}
}

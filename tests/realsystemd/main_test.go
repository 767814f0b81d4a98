// Package realsystemd runs lxcfs-go under a real systemd as PID 1: a Debian
// rootfs made with debootstrap from the mirror apt uses, booted with
// `systemd-nspawn -b`, with `make install` done into it and the unit
// enabled. The tests then do to the unit what an operator (or a crash) does
// (kill -9, systemctl reload, stop, start, a binary that no longer starts)
// while a reader in a mount namespace of its own reads the mount's
// proc/meminfo, bound over its /proc/meminfo, every 20 ms, and count what
// that reader saw.
//
// The tests skip unless LXCFS_GO_REAL_SYSTEMD=1 (`make e2e-systemd` sets
// it). They need root, /dev/fuse, debootstrap and systemd-nspawn (Debian
// packages debootstrap and systemd-container), and for the first run the
// Debian mirror: that run debootstraps the rootfs (about a minute) and
// caches it under /var/cache/lxcfs-go-test; after that the three tests boot
// a container each and take about 20 s in all.
//
// A run killed before its cleanups (go test's -timeout, SIGKILL) leaves
// what the next run's TestMain removes (stale_test.go).
//
// The harness is in pieces another test of this package can reuse:
// rootfs_test.go (the cached debootstrap rootfs, an overlay over it per
// test, installing lxcfs-go), machine_test.go (boot, run commands inside,
// tear down), cgroup_test.go (the cgroup tree the container lives in) and
// reader_test.go (the reader and its log).
//
// What a run creates, and removes even when a test fails: an overlay mount
// on a temporary directory, the systemd-nspawn process and its container
// (stopped by PID), one cgroup lxcfs-go-test-realsystemd-<random> at the
// root of every hierarchy (nspawn, the container and every command the
// tests run inside it live below it), and nspawn's per-machine directory
// under /run/systemd/nspawn/propagate.
package realsystemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// enableEnv must be "1" for the tests to run.
const enableEnv = "LXCFS_GO_REAL_SYSTEMD"

func TestMain(m *testing.M) {
	if os.Getenv(enableEnv) == "1" && os.Geteuid() == 0 {
		cleanupStaleRuns()
	}
	testenv.Main(m)
}

// requireRealSystemd skips the test unless it was asked for, and fails it
// with what to install if a tool is missing (whoever set enableEnv wants it
// to run).
func requireRealSystemd(t *testing.T) {
	t.Helper()
	if os.Getenv(enableEnv) != "1" {
		t.Skipf("boots a Debian rootfs under systemd-nspawn (the first run debootstraps it); set %s=1 (make e2e-systemd)", enableEnv)
	}
	testenv.RequireMountAndCgroups(t)
	for _, tl := range []struct{ bin, pkg string }{
		{"debootstrap", "debootstrap"},
		{"systemd-nspawn", "systemd-container"},
		{"systemctl", "systemd"},
		{"nsenter", "util-linux"},
		{"make", "make"},
	} {
		if _, err := exec.LookPath(tl.bin); err != nil {
			t.Fatalf("%s is missing: apt-get install %s", tl.bin, tl.pkg)
		}
	}
}

// repoRoot is the repository's top directory (tests run in their package's
// directory, tests/realsystemd).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Makefile")); err != nil {
		t.Fatalf("no Makefile in %s: run the tests from tests/realsystemd", root)
	}
	return root
}

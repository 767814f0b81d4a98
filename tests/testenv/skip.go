package testenv

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it mounts FUSE file systems and creates cgroups (try go test -exec sudo)")
	}
}

// RequireFUSE skips the test unless /dev/fuse can be opened read-write.
func RequireFUSE(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("needs /dev/fuse: %v", err)
	}
	f.Close()
}

// RequireMountAndCgroups is RequireRoot plus RequireFUSE: what every
// integration test needs.
func RequireMountAndCgroups(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	RequireFUSE(t)
}

// RequireCPUs skips the test unless at least n CPUs are online and usable
// by this process.
func RequireCPUs(t testing.TB, n int) {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() < n {
		t.Skipf("needs %d CPUs, this process may use %d", n, set.Count())
	}
	if runtime.NumCPU() < n {
		t.Skipf("needs %d CPUs, the host has %d", n, runtime.NumCPU())
	}
}

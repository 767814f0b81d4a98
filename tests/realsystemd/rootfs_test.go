package realsystemd

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/debroot"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// systemdRootfs is the rootfs the unit tests boot: systemd as init
// (systemd-sysv), dbus for systemctl's and systemd-run's bus, and the
// tools the tests run inside (ps, mount, unshare, df, stat, ls).
var systemdRootfs = debroot.Spec{
	Suite:    "bookworm",
	Variant:  "minbase",
	Packages: []string{"systemd", "systemd-sysv", "dbus", "procps", "util-linux", "mount", "coreutils"},
}

// installOptions is what installLxcfsGo adds beyond `make install`.
type installOptions struct {
	// Environment is added to the unit with a drop-in, e.g.
	// "LXCFS_GO_HOLDER_GRACE=5s".
	Environment []string
}

// installLxcfsGo runs the Makefile's install target into root with
// PREFIX=/usr, as `make install` inside the container would, and enables
// the unit. It is done from the host (DESTDIR=root) because that is the
// same recipe with the same result and takes a second, where installing Go
// and make in the rootfs would take minutes. The binary is the one the
// tests were given (LXCFS_GO_BIN, which `make e2e-systemd` builds, or
// staticDaemon's build): "-o build" keeps make from rebuilding it.
func installLxcfsGo(t testing.TB, root string, opts installOptions) {
	t.Helper()
	bin, err := filepath.Abs(staticDaemon(t))
	if err != nil {
		t.Fatal(err)
	}
	mustHost(t, "make", "-C", repoRoot(t), "-o", "build", "install",
		"DESTDIR="+root, "PREFIX=/usr", "BIN="+bin)
	// The unit says ConditionVirtualization=!container: in a container the
	// host's instance serves the files, so systemd would skip it here
	// ("condition failed", no error). This container stands in for a host.
	// An empty assignment resets the list of conditions of that kind, so
	// the drop-in removes exactly that one condition and nothing else.
	dropIn := "# lxcfs-go real-systemd tests: this container plays a host.\n" +
		"[Unit]\nConditionVirtualization=\n"
	if len(opts.Environment) > 0 {
		dropIn += "\n[Service]\n"
		for _, e := range opts.Environment {
			dropIn += "Environment=" + e + "\n"
		}
	}
	writeFile(t, filepath.Join(root, "etc/systemd/system/lxcfs-go.service.d/test.conf"), dropIn, 0o644)
	// The real enable: systemctl reads [Install] and makes the
	// multi-user.target.wants link, offline, in root.
	mustHost(t, "systemctl", "--root="+root, "enable", "lxcfs-go.service")
}

// staticDaemon is LXCFS_GO_BIN (testenv.DaemonBinary returns it), or else
// ./cmd/lxcfs-go built as `make build` builds it: static, since it runs in
// the rootfs, whose libc need not be the host's (testenv.DaemonBinary's own
// build links the host's libc, and -race needs it).
func staticDaemon(t testing.TB) string {
	t.Helper()
	if os.Getenv("LXCFS_GO_BIN") != "" {
		return testenv.DaemonBinary(t)
	}
	out := filepath.Join(t.TempDir(), "lxcfs-go")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./cmd/lxcfs-go")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/lxcfs-go: %v\n%s", err, b)
	}
	return out
}

// writeFile creates path (and its directories) with content.
func writeFile(t testing.TB, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// replaceFile puts content at path the way a package upgrade does: a new
// file renamed over the old one, so that processes running the old file
// keep it.
func replaceFile(t testing.TB, path, content string, mode fs.FileMode) {
	t.Helper()
	tmp := path + ".lxcfs-go-test-new"
	writeFile(t, tmp, content, mode)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// copyFile copies the regular file src to dst with mode.
func copyFile(t testing.TB, src, dst string, mode fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b), mode)
}

// mustHost runs a command on the host (not in the container) and fails
// the test with its output if it fails.
func mustHost(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestImageImport loads the image `make image` writes into a private
// containerd with `ctr images import`, as the e2e cluster does, and checks
// both tags name one manifest for this machine's platform. It skips where
// containerd is not installed (Debian's containerd package has both).
func TestImageImport(t *testing.T) {
	testenv.RequireRoot(t)
	for _, bin := range []string{"containerd", "ctr"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("no %s: install Debian's containerd to test loading the image", bin)
		}
	}
	dir := t.TempDir()
	image := filepath.Join(dir, "image.tar")
	mustRun(t, "go", "run", repo(t, "tools/mkimage"), "-bin", testenv.DaemonBinary(t),
		"-version", "e2e-test", "-epoch", "1700000000", "-o", image)

	// Everything of this containerd is below dir; no plugin that mounts,
	// runs containers or writes outside it (opt writes /opt/containerd).
	sock := filepath.Join(dir, "containerd.sock")
	config := `version = 2
root = "` + filepath.Join(dir, "root") + `"
state = "` + filepath.Join(dir, "state") + `"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.overlayfs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.runtime.v1.linux",
  "io.containerd.runtime.v2.task", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "` + sock + `"
`
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	daemon := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	daemon.Stdout, daemon.Stderr = &log, &log
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	t.Cleanup(func() {
		daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			daemon.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("containerd:\n%s", log.String())
		}
	})
	ctr := func(args ...string) string {
		return mustRun(t, "ctr", append([]string{"--address", sock, "--timeout", "30s"}, args...)...)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := command(10*time.Second, "ctr", "--address", sock, "version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd did not answer within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// --no-unpack: unpacking needs a snapshotter and mounts; the layer's
	// contents are checked by tools/mkimage's tests.
	ctr("images", "import", "--no-unpack", image)
	out := ctr("images", "ls")
	var digests []string
	for _, name := range []string{"docker.io/library/lxcfs-go:e2e-test", "docker.io/library/lxcfs-go:latest"} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == name {
				found = true
				digests = append(digests, f[2])
				if !strings.Contains(line, "linux/") {
					t.Errorf("%s: no linux platform: %s", name, line)
				}
			}
		}
		if !found {
			t.Errorf("ctr images ls has no %s:\n%s", name, out)
		}
	}
	if len(digests) == 2 && digests[0] != digests[1] {
		t.Errorf("the two tags name different manifests: %v", digests)
	}
	// The content is all there: ctr can read the config through the tag.
	if check := ctr("images", "check", "--snapshotter", "native"); !strings.Contains(check, "complete (2/2)") {
		t.Errorf("ctr images check:\n%s", check)
	}
}

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestPodmanHooksDir runs podman with deploy/oci/lxcfs-go.json in its hooks
// directory: podman reads the hooks.d file and hands the hook to runc at
// createRuntime. Everything podman keeps is in temporary directories; the
// container's cgroups go below a lxcfs-go-test-* parent that is removed.
func TestPodmanHooksDir(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (apt-get install podman to run this test)")
	}
	ensureTools(t, tool{"runc", "runc"}, tool{"busybox", "busybox-static"})
	daemon := testenv.StartDaemon(t)
	env := newRuncEnv(t)
	work := t.TempDir()

	// The hooks.d file, pointed at this test's daemon and binary.
	hooks := ociHooks(t, daemon.Mnt, filepath.Join(work, "hook.log"))
	var stage string
	var hook map[string]any
	for s, list := range hooks {
		stage, hook = s, list.([]any)[0].(map[string]any)
	}
	file := map[string]any{"version": "1.0.0", "hook": hook, "when": map[string]any{"always": true}, "stages": []any{stage}}
	b, _ := json.Marshal(file)
	hooksDir := filepath.Join(work, "hooks.d")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hooksDir, "lxcfs-go.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	parent := "/" + uniqueName(t)
	t.Cleanup(func() { removeCgroupEverywhere(t, parent) })
	// podman keeps exit files in /run/libpod and has runc look at /run/runc
	// whatever the flags say; remove them if this test made them.
	for _, dir := range []string{"/run/libpod", "/run/runc"} {
		if !fileExists(dir) {
			t.Cleanup(func() { os.RemoveAll(dir) })
		}
	}
	global := []string{
		"--root", filepath.Join(work, "storage"), "--runroot", filepath.Join(work, "run"),
		"--tmpdir", filepath.Join(work, "tmp"), "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file",
		"--hooks-dir", hooksDir, "--runtime", "runc",
		"--runtime-flag", "root=" + filepath.Join(work, "runc"),
	}
	run := append(global, "run", "--rm", "--network", "none", "--cgroup-parent", parent,
		"--memory", "192m", "--cpuset-cpus", strconv.Itoa(env.cpu),
		// podman's default limits exceed what this host allows a container.
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--rootfs", env.rootfs, "/bin/sh", "-c",
		"for f in /proc/meminfo /proc/cpuinfo /sys/devices/system/cpu/online /proc/uptime; do "+
			"echo \"== cat $f\"; cat $f; echo \"== head -c 1000000 $f\"; head -c 1000000 $f; done;"+
			"if echo 1 2>/dev/null >/proc/meminfo; then echo '== write'; fi")
	started := time.Now()
	out, err := command(2*time.Minute, "podman", run...)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, part := range strings.Split(out, "== ")[1:] {
		name, body, _ := strings.Cut(part, "\n")
		files[name] = body
	}
	// checkView asks for what the container printed.
	replay := func(cmdline string) (string, error) {
		if cmdline == "echo 1 > /proc/meminfo" {
			if _, ok := files["write"]; ok {
				return "", nil
			}
			return "", os.ErrPermission
		}
		body, ok := files[cmdline]
		if !ok {
			t.Fatalf("the container did not run %q", cmdline)
		}
		return body, nil
	}
	checkView(t, replay, env.cpu, time.Since(started))
	logged, _ := os.ReadFile(filepath.Join(work, "hook.log"))
	if !strings.Contains(string(logged), "over /proc/meminfo") {
		t.Errorf("podman did not run the hook, or it bound nothing:\n%s", logged)
	}
}

// removeCgroupEverywhere removes the cgroup rel and everything below it
// from every hierarchy, deepest first; it only removes empty directories,
// and waits up to 5 s for processes that are still exiting (conmon).
func removeCgroupEverywhere(t *testing.T, rel string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + rel)
		if d := "/sys/fs/cgroup" + rel; fileExists(filepath.Join(d, "cgroup.procs")) {
			dirs = append(dirs, d)
		}
		var last error
		for _, dir := range dirs {
			var all []string
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					all = append(all, p)
				}
				return nil
			})
			for i := len(all) - 1; i >= 0; i-- {
				if err := os.Remove(all[i]); err != nil {
					last = err
				}
			}
		}
		if last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("removing cgroup %s: %v", rel, last)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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

// runcEnv is what every runc container of a test shares.
type runcEnv struct {
	root   string // runc --root
	rootfs string // a busybox tree, mounted read-only into each container
	cpu    int
}

// newRuncEnv builds a busybox rootfs: the static busybox and a link per
// applet, and the directories runc mounts onto.
func newRuncEnv(t *testing.T) *runcEnv {
	t.Helper()
	e := &runcEnv{root: t.TempDir(), rootfs: filepath.Join(t.TempDir(), "rootfs"), cpu: hostCPU(t)}
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(e.rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.rootfs, "bin/busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(mustRun(t, busybox, "--list")) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(e.rootfs, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// runcContainer is one container started with "runc run -d".
type runcContainer struct {
	env     *runcEnv
	id      string
	bundle  string
	started time.Time
}

// spec returns the config.json that "runc spec" writes, made to run
// "sleep" in the busybox rootfs with a 192 MiB limit, pinned to one CPU, in
// cgroups named after the container.
func (e *runcEnv) spec(t *testing.T, id string) (bundle string, config map[string]any) {
	t.Helper()
	bundle = t.TempDir()
	mustRun(t, "runc", "spec", "--bundle", bundle)
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &config); err != nil {
		t.Fatal(err)
	}
	config["root"] = map[string]any{"path": e.rootfs, "readonly": true}
	process := config["process"].(map[string]any)
	process["terminal"] = false
	process["args"] = []any{"/bin/sleep", "600"}
	linux := config["linux"].(map[string]any)
	linux["cgroupsPath"] = "/" + id
	linux["resources"] = map[string]any{
		"memory": map[string]any{"limit": 192 << 20},
		"cpu":    map[string]any{"cpus": strconv.Itoa(e.cpu)},
	}
	return bundle, config
}

// run writes config into bundle and starts the container; it returns the
// error of "runc run" instead of failing, for tests that expect one.
func (e *runcEnv) run(t *testing.T, id, bundle string, config map[string]any) (*runcContainer, error) {
	t.Helper()
	b, err := json.MarshalIndent(config, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &runcContainer{env: e, id: id, bundle: bundle}
	t.Cleanup(func() {
		if out, err := command(30*time.Second, "runc", "--root", e.root, "delete", "--force", id); err != nil &&
			!strings.Contains(out, "does not exist") {
			t.Errorf("runc delete: %v", err)
		}
	})
	// Files, not pipes, for the detached container's stdio: a pipe would
	// keep Wait waiting for the container.
	stdio, err := os.Create(filepath.Join(bundle, "stdio.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdio.Close()
	cmd := exec.Command("runc", "--root", e.root, "run", "--detach", "--bundle", bundle, id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, stdio, stdio
	c.started = time.Now()
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(stdio.Name())
		return nil, &runError{err: err, out: string(out)}
	}
	return c, nil
}

type runError struct {
	err error
	out string
}

func (e *runError) Error() string { return "runc run: " + e.err.Error() + "\n" + e.out }

func (c *runcContainer) sh(cmdline string) (string, error) {
	return command(30*time.Second, "runc", "--root", c.env.root, "exec", c.id, "/bin/sh", "-c", cmdline)
}

// bindMounts turns docs/oci.md's mount list into config.json entries for a
// daemon mounted at mnt.
func bindMounts(t *testing.T, mnt string) []any {
	t.Helper()
	block := strings.ReplaceAll(docBlock(t, "oci.md", "oci-mounts"), `"/var/lib/lxcfs/`, `"`+mnt+`/`)
	var mounts []any
	if err := json.Unmarshal([]byte(block), &mounts); err != nil {
		t.Fatalf("docs/oci.md oci-mounts: %v", err)
	}
	return mounts
}

// dockerFlags reads docs/docker.md's "docker run" line and returns the
// config.json mounts Docker makes of its -v flags, and its memory limit and
// CPU list.
func dockerFlags(t *testing.T, mnt string) (mounts []any, memory string, cpus string) {
	t.Helper()
	words := strings.Fields(strings.ReplaceAll(docBlock(t, "docker.md", "docker-run"), "\\\n", " "))
	for i := 0; i+1 < len(words); i++ {
		switch words[i] {
		case "-v", "--volume":
			parts := strings.Split(words[i+1], ":")
			if len(parts) < 2 {
				t.Fatalf("docs/docker.md: bad -v %q", words[i+1])
			}
			src := strings.Replace(parts[0], "/var/lib/lxcfs", mnt, 1)
			options := []any{"rbind"}
			if len(parts) > 2 {
				for _, o := range strings.Split(parts[2], ",") {
					options = append(options, o)
				}
			}
			mounts = append(mounts, map[string]any{"destination": parts[1], "type": "bind", "source": src, "options": options})
		case "--memory", "-m":
			memory = words[i+1]
		case "--cpuset-cpus":
			cpus = words[i+1]
		}
	}
	return mounts, memory, cpus
}

// TestRunc runs busybox containers under runc that get the daemon's files
// from the config.json mounts of docs/oci.md, the docker flags of
// docs/docker.md and the OCI hook of deploy/oci/lxcfs-go.json.
func TestRunc(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	ensureTools(t, tool{"runc", "runc"}, tool{"busybox", "busybox-static"})
	daemon := testenv.StartDaemon(t)
	env := newRuncEnv(t)

	t.Run("config mounts", func(t *testing.T) {
		id := uniqueName(t)
		bundle, config := env.spec(t, id)
		config["mounts"] = append(config["mounts"].([]any), bindMounts(t, daemon.Mnt)...)
		c, err := env.run(t, id, bundle, config)
		if err != nil {
			t.Fatal(err)
		}
		checkView(t, c.sh, env.cpu, time.Since(c.started))
	})

	t.Run("docker flags", func(t *testing.T) {
		id := uniqueName(t)
		bundle, config := env.spec(t, id)
		mounts, memory, cpus := dockerFlags(t, daemon.Mnt)
		if len(mounts) != len(bindMounts(t, daemon.Mnt)) {
			t.Errorf("docs/docker.md binds %d files, docs/oci.md %d", len(mounts), len(bindMounts(t, daemon.Mnt)))
		}
		if memory != "192m" || cpus != "1" {
			t.Fatalf("docs/docker.md: --memory %q --cpuset-cpus %q, want 192m and 1 (what the checks expect)", memory, cpus)
		}
		config["mounts"] = append(config["mounts"].([]any), mounts...)
		c, err := env.run(t, id, bundle, config)
		if err != nil {
			t.Fatal(err)
		}
		checkView(t, c.sh, env.cpu, time.Since(c.started))
	})

	t.Run("oci hook", func(t *testing.T) {
		id := uniqueName(t)
		bundle, config := env.spec(t, id)
		log := filepath.Join(bundle, "hook.log")
		config["hooks"] = ociHooks(t, daemon.Mnt, log)
		c, err := env.run(t, id, bundle, config)
		if err != nil {
			t.Fatal(err)
		}
		checkView(t, c.sh, env.cpu, time.Since(c.started))
		logged, _ := os.ReadFile(log)
		if !strings.Contains(string(logged), "bound "+daemon.Mnt+"/proc/meminfo over /proc/meminfo") {
			t.Errorf("the hook log does not report the meminfo bind:\n%s", logged)
		}
		// Every host disk's stat file over the real path /sys/block/<disk>
		// links to, where the container sees it too.
		disks, _ := filepath.Glob("/sys/block/*")
		for _, disk := range disks {
			real, err := filepath.EvalSymlinks(disk)
			if err != nil {
				t.Fatal(err)
			}
			bound := "bound " + daemon.Mnt + "/sys/block/" + filepath.Base(disk) + "/stat over " + real + "/stat"
			if !strings.Contains(string(logged), bound) {
				t.Errorf("the hook log does not say %q:\n%s", bound, logged)
			}
			if out, err := c.sh("grep -c ' " + real + "/stat ' /proc/self/mountinfo"); err != nil || strings.TrimSpace(out) != "1" {
				t.Errorf("%s/stat is mounted %q times in the container, want 1 (%v)", real, strings.TrimSpace(out), err)
			}
		}
		// runc's rule: nothing under /proc/pressure.
		if out, err := c.sh("grep -c ' /proc/pressure' /proc/self/mountinfo"); err == nil {
			t.Errorf("the hook bound something under /proc/pressure: %s", out)
		}
	})

	t.Run("oci hook with mounts too", func(t *testing.T) {
		// Targets already bound by config.json are skipped, not stacked.
		id := uniqueName(t)
		bundle, config := env.spec(t, id)
		log := filepath.Join(bundle, "hook.log")
		config["mounts"] = append(config["mounts"].([]any), bindMounts(t, daemon.Mnt)...)
		config["hooks"] = ociHooks(t, daemon.Mnt, log)
		c, err := env.run(t, id, bundle, config)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.sh("grep -c ' /proc/meminfo ' /proc/self/mountinfo")
		if err != nil || strings.TrimSpace(out) != "1" {
			t.Errorf("/proc/meminfo is mounted %q times, want 1 (%v)", strings.TrimSpace(out), err)
		}
		logged, _ := os.ReadFile(log)
		if !strings.Contains(string(logged), "/proc/meminfo is already a mount point") {
			t.Errorf("the hook log does not report the skip:\n%s", logged)
		}
	})

	t.Run("oci hook daemon not running", func(t *testing.T) {
		id := uniqueName(t)
		bundle, config := env.spec(t, id)
		log := filepath.Join(bundle, "hook.log")
		empty := t.TempDir()
		config["hooks"] = ociHooks(t, empty, log)
		c, err := env.run(t, id, bundle, config)
		if err != nil {
			t.Fatalf("the container did not start without the daemon: %v", err)
		}
		out, err := c.sh("head -n 1 /proc/meminfo")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := memTotal(out), hostMemTotal(t); got != want {
			t.Errorf("MemTotal = %q without the daemon, want the host's %q", got, want)
		}
		logged, _ := os.ReadFile(log)
		if want := id + ": lxcfs-go is not mounted at " + empty; !strings.Contains(string(logged), want) {
			t.Errorf("the hook log does not have %q:\n%s", want, logged)
		}
	})

	t.Run("pressure refused", func(t *testing.T) {
		src := daemon.Path("proc/pressure/cpu")
		if !fileExists(src) {
			src = "/proc/pressure/cpu"
		}
		if !fileExists(src) {
			t.Skip("no /proc/pressure on this kernel")
		}
		id := uniqueName(t)
		bundle, config := env.spec(t, id)
		config["mounts"] = append(config["mounts"].([]any),
			map[string]any{"destination": "/proc/pressure/cpu", "type": "bind", "source": src, "options": []any{"rbind", "ro"}})
		_, err := env.run(t, id, bundle, config)
		if err == nil {
			t.Fatal("runc now allows a bind mount onto /proc/pressure/cpu: the files can join the lists in docs/oci.md, docs/docker.md and the webhook")
		}
		if !strings.Contains(err.Error(), "inside /proc") {
			t.Errorf("runc failed for another reason than its /proc rule: %v", err)
		}
	})
}

// ociHooks is the "hooks" object of config.json for deploy/oci/lxcfs-go.json,
// for a daemon at dir, logging to log. When the daemon binary has no
// oci-hook command yet, this test binary stands in for it (see TestMain).
func ociHooks(t *testing.T, dir, log string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(repo(t, "deploy/oci/lxcfs-go.json"))
	if err != nil {
		t.Fatal(err)
	}
	if doc := docBlock(t, "oci.md", "oci-hooks-d"); doc != string(b) {
		t.Errorf("docs/oci.md shows another hooks.d file than deploy/oci/lxcfs-go.json:\n%s", doc)
	}
	var file struct {
		Hook struct {
			Path string   `json:"path"`
			Args []string `json:"args"`
		} `json:"hook"`
		Stages []string `json:"stages"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Hook.Args) < 2 || file.Hook.Args[1] != "oci-hook" || len(file.Stages) != 1 {
		t.Fatalf("deploy/oci/lxcfs-go.json: unexpected hook %+v stages %v", file.Hook, file.Stages)
	}
	var flags []string
	for _, a := range file.Hook.Args[2:] {
		flags = append(flags, strings.Replace(a, "/var/lib/lxcfs", dir, 1))
	}
	flags = append(flags, "--log", log, "-v")

	hook := map[string]any{}
	bin := testenv.DaemonBinary(t)
	// Ask for the command's help: a binary without it would take "oci-hook"
	// for a mount point.
	if out, _ := exec.Command(bin, "oci-hook", "--help").CombinedOutput(); strings.Contains(string(out), "lxcfs-go oci-hook") {
		hook["path"] = bin
		hook["args"] = append([]any{"lxcfs-go", "oci-hook"}, toAny(flags)...)
	} else {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s has no oci-hook command yet; the test binary runs ocihook.Main instead", bin)
		hook["path"] = self
		hook["args"] = append([]any{"lxcfs-go-oci-hook"}, toAny(flags)...)
		hook["env"] = []any{ociHookEnv + "=1"}
	}
	return map[string]any{file.Stages[0]: []any{hook}}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

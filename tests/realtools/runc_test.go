package realtools

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/debroot"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestToolsRunc: the tools in a runc container with the mounts of
// docs/oci.md.
func TestToolsRunc(t *testing.T) {
	testLeg(t, "runc", startRunc)
}

// boundFiles are the daemon's files the container gets (docs/oci.md).
var boundFiles = []string{"proc/cpuinfo", "proc/diskstats", "proc/loadavg", "proc/meminfo",
	"proc/slabinfo", "proc/stat", "proc/swaps", "proc/uptime",
	"sys/devices/system/cpu", "sys/devices/system/node"}

// blockStatBinds are the daemon's block device stat files with the sysfs
// files they go over, as docs/oci.md makes them: sys/block/<disk>/stat
// over the real path /sys/block/<disk> links to, and the same for
// <disk>/<part>/stat.
func blockStatBinds(t *testing.T, d *testenv.Daemon) [][2]string {
	t.Helper()
	var binds [][2]string
	for _, pattern := range []string{"sys/block/*/stat", "sys/block/*/*/stat"} {
		srcs, err := filepath.Glob(d.Path(pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range srcs {
			rel, err := filepath.Rel(d.Path(""), filepath.Dir(src))
			if err != nil {
				t.Fatal(err)
			}
			real, err := filepath.EvalSymlinks("/" + rel)
			if err != nil {
				t.Fatal(err)
			}
			binds = append(binds, [2]string{src, real + "/stat"})
		}
	}
	if len(binds) == 0 {
		t.Fatalf("the daemon serves no sys/block/*/stat")
	}
	return binds
}

// startRunc runs the tools' rootfs as runc container
// lxcfs-go-test-realtools-*, in a time namespace that boots with it, with
// the daemon's files bound and the suite's limits.
func startRunc(t *testing.T, d *testenv.Daemon) *box {
	t.Helper()
	rootfs := debroot.Overlay(t, debroot.Cached(t, toolsRootfs))
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := "lxcfs-go-test-realtools-" + hex.EncodeToString(rnd[:])
	bundle := t.TempDir()
	run(t, "runc", "spec", "--bundle", bundle)
	var spec map[string]any
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	hostUp, _ := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	spec["root"] = map[string]any{"path": rootfs, "readonly": false}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	// The container's boot is its start: a time namespace whose boot
	// offset is minus the host's uptime (runc 1.1 has no timeOffsets).
	proc["args"] = []string{"unshare", "--time", "--boottime", strconv.Itoa(-int(hostUp)), "--fork", "--", "sleep", "infinity"}
	caps := proc["capabilities"].(map[string]any)
	for _, k := range []string{"bounding", "effective", "permitted"} {
		caps[k] = append(toStrings(caps[k]), "CAP_SYS_ADMIN", "CAP_SYS_TIME")
	}
	linux := spec["linux"].(map[string]any)
	linux["cgroupsPath"] = "/" + id
	linux["resources"] = map[string]any{
		"memory": map[string]any{"limit": memLimit},
		"cpu":    map[string]any{"cpus": cpuset, "quota": quotaUs, "period": periodUs},
	}
	mounts := spec["mounts"].([]any)
	for _, f := range boundFiles {
		mounts = append(mounts, map[string]any{"destination": "/" + f, "type": "bind", "source": d.Path(f), "options": []string{"rbind", "ro"}})
	}
	for _, b := range blockStatBinds(t, d) {
		mounts = append(mounts, map[string]any{"destination": b[1], "type": "bind", "source": b[0], "options": []string{"bind", "ro"}})
	}
	spec["mounts"] = mounts
	b, err = json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(bundle, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("runc", "run", "-d", "--pid-file", filepath.Join(bundle, "pid"), "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = log, log
	t.Cleanup(func() {
		_ = exec.Command("runc", "kill", id, "KILL").Run()
		if out, err := exec.Command("runc", "delete", "-f", id).CombinedOutput(); err != nil {
			t.Errorf("runc delete %s: %v: %s", id, err, out)
		}
	})
	started := time.Now()
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(filepath.Join(bundle, "log"))
		t.Fatalf("runc run: %v\n%s", err, out)
	}
	pb, err := os.ReadFile(filepath.Join(bundle, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	init, err := strconv.Atoi(strings.TrimSpace(string(pb)))
	if err != nil {
		t.Fatal(err)
	}
	// unshare's child, the sleep in the time namespace, is what commands
	// enter (nsenter -a).
	target := 0
	for deadline := time.Now().Add(30 * time.Second); target == 0; {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", init, init))
		if f := strings.Fields(string(kids)); len(f) > 0 {
			target, _ = strconv.Atoi(f[0])
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(bundle, "log"))
			t.Fatalf("the container's init %d started no child:\n%s", init, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every command first joins the container's cgroups.
	join := ""
	seen := map[string]bool{}
	for _, dir := range cgroupDirs(t, init) {
		procs := dir + "/cgroup.procs"
		if !seen[dir] && strings.Contains(dir, id) && readable(procs) {
			seen[dir] = true
			join += "echo $$ > " + procs + " && "
		}
	}
	if join == "" {
		t.Fatalf("no cgroup of %s for pid %d", id, init)
	}
	return &box{rootfs: rootfs, started: started, init: init, cgroup: "/" + id,
		argv: func(argv ...string) []string {
			return append([]string{"sh", "-c", join + `exec "$@"`, "sh",
				"nsenter", "-t", strconv.Itoa(target), "-a", "-r", "-w", "--"}, argv...)
		}}
}

func readable(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// LXC is an LXC container in a private LXC path (lxc-* -P Path), named
// CgroupPrefix plus random hex, so that the cgroups LXC makes for it
// (lxc.payload.NAME, lxc.monitor.NAME) are recognisable as the tests'.
type LXC struct {
	Path string // the LXC path; the container's config is Path/Name/config
	Name string
	Log  string // a log file for lxc-start/lxc-execute -o, in Path
}

// NewLXC names a container in a new temporary LXC path; the caller
// creates and starts it. Cleanup kills it (lxc-stop -k; LXC removes its
// cgroups), destroys it (and its rootfs, unless lxc.rootfs.managed = 0),
// removes the lxc.pivot cgroups LXC made while stopping it, and when the
// test failed logs the hook and error lines of Log.
func NewLXC(t testing.TB) *LXC {
	t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	c := &LXC{Path: t.TempDir(), Name: CgroupPrefix + hex.EncodeToString(rnd[:])}
	c.Log = filepath.Join(c.Path, "start.log")
	pivots := map[string]bool{}
	for _, d := range lxcPivotCgroups() {
		pivots[d] = true
	}
	t.Cleanup(func() {
		_, _ = lxcCommand("lxc-stop", "-P", c.Path, "-n", c.Name, "-k")
		if _, err := os.Stat(filepath.Join(c.Path, c.Name)); err == nil {
			if out, err := lxcCommand("lxc-destroy", "-P", c.Path, "-n", c.Name, "-f"); err != nil {
				t.Errorf("lxc-destroy %s: %v\n%s", c.Name, err, out)
			}
		}
		// LXC's monitor moves into lxc.pivot to remove the container's
		// cgroups and may still be there, exiting, when lxc-stop returns:
		// rmdir (it removes only an empty cgroup) until it is gone.
		for _, d := range lxcPivotCgroups() {
			for deadline := time.Now().Add(5 * time.Second); !pivots[d]; {
				err := os.Remove(d)
				if err == nil || errors.Is(err, fs.ErrNotExist) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("LXC left %s: %v", d, err)
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if t.Failed() {
			if b, err := os.ReadFile(c.Log); err == nil {
				t.Logf("LXC log %s, hook and error lines:\n%s", c.Log, GrepLines(string(b), "hook", "ERROR"))
			}
		}
	})
	return c
}

// Attach is the command line that runs argv in the running container:
// its namespaces (time included) and cgroups, with an environment of
// LXC's only (lxc-attach --clear-env).
func (c *LXC) Attach(argv ...string) []string {
	return append([]string{"lxc-attach", "-P", c.Path, "-n", c.Name, "--clear-env", "--"}, argv...)
}

// lxcPivotCgroups lists the "lxc.pivot" cgroups: LXC creates them at the
// root of each hierarchy when it first stops a container and keeps them.
func lxcPivotCgroups() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/lxc.pivot")
	if _, err := os.Lstat("/sys/fs/cgroup/lxc.pivot"); err == nil {
		dirs = append(dirs, "/sys/fs/cgroup/lxc.pivot")
	}
	return dirs
}

// lxcCommand runs an lxc-* command for at most 30 s.
func lxcCommand(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// GrepLines keeps the lines of s that contain any of words.
func GrepLines(s string, words ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

package ocihook

import (
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// TestPlanFollowsTable: given the proc entries the daemon lists, the hook
// binds every file the vfiles table binds by default and none that is
// opt-in.
func TestPlanFollowsTable(t *testing.T) {
	t.Parallel()
	var proc []string
	for _, r := range vfiles.Rows() {
		if rest, ok := strings.CutPrefix(r.Path, "proc/"); ok {
			first, _, _ := strings.Cut(rest, "/")
			if !slices.Contains(proc, first) {
				proc = append(proc, first)
			}
		}
	}
	var got []string
	for _, b := range Plan(Daemon{Dir: "/d", Proc: proc, CPU: []string{"online", "uevent"}}) {
		got = append(got, b.Target)
	}
	for _, r := range vfiles.Rows() {
		if bound := slices.Contains(got, r.Bind); bound == r.OptIn {
			t.Errorf("%s (bind %s, opt-in %v): bound %v; binds %v", r.Path, r.Bind, r.OptIn, bound, got)
		}
	}
}

// TestLXCHookFollowsTable: the LXC mount hook is a shell script that binds
// whatever the daemon's directory lists, so it names no files; what it
// does name must agree with the vfiles table: the directories bound whole,
// and the opt-in directory it binds writable instead of leaving out.
func TestLXCHookFollowsTable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../lxc.mount.hook")
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	if !strings.Contains(script, `for src in "$dir"/proc/*; do`) {
		t.Error("the hook does not bind every entry of the daemon's proc directory")
	}
	for _, r := range vfiles.Rows() {
		switch {
		case r.OptIn:
			// proc/pressure/cpu: the loop over proc/* binds the directory,
			// writable.
			dir := path.Dir(r.Bind)
			if path.Dir(dir) != "proc" {
				t.Errorf("%s: opt-in outside a directory of proc/, which the hook does not handle", r.Path)
				continue
			}
			if want := `if [ "$name" = ` + path.Base(dir) + " ]; then\n\t\tbind \"$src\" \"$dst\"\n"; !strings.Contains(script, want) {
				t.Errorf("%s: the hook does not bind %s writable (no %q)", r.Path, dir, want)
			}
		case r.Bind != r.Path:
			// A directory the daemon serves whole.
			if !strings.Contains(script, "="+r.Bind+"\n") || !strings.Contains(script, `bind "$dir/$`) {
				t.Errorf("%s: the hook does not bind the directory %s", r.Path, r.Bind)
			}
		case !strings.HasPrefix(r.Path, "proc/"):
			t.Errorf("%s: a file bound by itself outside proc/, which the hook does not bind", r.Path)
		}
	}
}

// Package archtest checks the arrows docs/architecture.md says must never
// exist, so that a new import that breaks the layering fails a test rather
// than waiting for a reader of the page to notice.
package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/lxcfs-go/lxcfs-go/"

// deps lists the packages of ours that pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var ours []string
	for _, p := range strings.Fields(string(out)) {
		if rest, ok := strings.CutPrefix(p, module); ok && rest != pkg {
			ours = append(ours, rest)
		}
	}
	return ours
}

func TestForbiddenArrows(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	for _, c := range []struct {
		from string
		// never: packages from must not reach; only: the only ones it may.
		never, only []string
		why         string
	}{
		{from: "fs", never: []string{"daemon", "cmd/lxcfs-go"}, why: "the server is given its fd; the life cycle sits above it"},
		{from: "daemon", never: []string{"upgrade", "cmd/lxcfs-go"}, why: "upgrade imports daemon; cmd wires them"},
		{from: "proc", never: []string{"fs", "content", "daemon"}, why: "renderers are pure: testable without a mount"},
		{from: "hostcgroup", never: []string{"fs", "content", "daemon"}, why: "testable without a mount"},
		{from: "webhook", never: []string{"fs", "content", "daemon", "hostcgroup"}, why: "runs in a pod's admission, not in the daemon"},
		{from: "hooks/ocihook", never: []string{"fs", "content", "daemon"}, why: "runs in a runtime's hook"},
		{from: "hostfs", only: []string{"internal/kfile"}, why: "everything reads through it"},
		{from: "vfiles", only: []string{}, why: "the hooks and the webhook read the table"},
		{from: "fallback", only: []string{}, why: "everyone reports through it"},
	} {
		got := deps(t, c.from)
		for _, d := range got {
			if slices.Contains(c.never, d) || (c.only != nil && !slices.Contains(c.only, d)) {
				t.Errorf("%s imports %s (%s)", c.from, d, c.why)
			}
		}
	}
}

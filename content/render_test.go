package content

import (
	"testing"

	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// TestEveryFileHasARenderer: a row of the vfiles table needs a renderer
// here, and a file that is not the same for everyone needs the host file it
// falls back to (virtualization off, a caller without a container view).
func TestEveryFileHasARenderer(t *testing.T) {
	for _, f := range vfiles.Files() {
		r := rendererOf(f)
		switch {
		case r.render == nil && r.fixed == "":
			t.Errorf("%v: no renderer", f)
		case r.render != nil && r.fixed != "":
			t.Errorf("%v: both a renderer and fixed content", f)
		case r.render != nil && f.Row().Host == "":
			t.Errorf("%v: rendered, but no host file to fall back to", f)
		}
	}
	if r := rendererOf(vfiles.Count); r.render != nil || r.fixed != "" {
		t.Errorf("a renderer for a number that names no file")
	}
}

package fs

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// TestStateCoversNode fails when node or handle gain fields: ExportState and
// ImportState (state.go) must then carry them to a successor, or say why
// not, and this count be updated.
func TestStateCoversNode(t *testing.T) {
	// lookups and pinned travel as NodeState.Lookups and Pinned.
	if n := reflect.TypeOf(node{}).NumField(); n != 10 {
		t.Errorf("node has %d fields; update ExportState/ImportState in state.go and this test", n)
	}
}

func TestStateRoundTrip(t *testing.T) {
	a := New(Options{HandleEpoch: 7})
	sys := a.tree.sysNode(idSysCPU, "cpu0", kindSysDir, 0)
	f := a.tree.dynNode(&node{parent: sys.id, name: "x", kind: kindFile, file: vfiles.Meminfo, key: "test:x"})
	fh := a.addHandle(&handle{node: f, openPID: 42, valid: true, buf: []byte("hello")})
	dh := a.addHandle(&handle{node: sys, dir: []fuse.DirEntry{{Name: ".", Ino: sys.id}}})

	b, err := json.Marshal(a.ExportState(true))
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	z := New(Options{HandleEpoch: st.HandleEpoch + 1})
	if err := z.ImportState(&st); err != nil {
		t.Fatal(err)
	}
	if z.HandleEpoch() != 8 {
		t.Errorf("epoch %d, want 8", z.HandleEpoch())
	}
	for _, n := range []*node{sys, f} {
		got := z.tree.get(n.id)
		if got == nil || got.key != n.key || got.kind != n.kind || got.file != n.file || got.rel != n.rel || got.parent != n.parent {
			t.Errorf("node %d: got %+v, want %+v", n.id, got, n)
		}
	}
	if h := z.handle(fh); h == nil || string(h.buf) != "hello" || !h.valid || h.openPID != 42 || h.node.id != f.id {
		t.Errorf("file handle: %+v", h)
	}
	if h := z.handle(dh); h == nil || len(h.dir) != 1 || h.node.id != sys.id {
		t.Errorf("dir handle: %+v", h)
	}
	// A node added after the import gets the same ID as in a (the ID
	// is the key's).
	if n := z.tree.dynNode(&node{kind: kindFile, key: "test:x"}); n.id != f.id {
		t.Errorf("re-derived ID %d, want %d", n.id, f.id)
	}
	if fh2 := z.addHandle(&handle{node: f}); fh2>>48 != 8 {
		t.Errorf("new handle %x not in epoch 8", fh2)
	}
	if err := z.ImportState(&State{Version: StateVersion + 1}); err == nil {
		t.Error("a newer state version was accepted")
	}
}

func TestKernelResends(t *testing.T) {
	init := make([]byte, 40+64)
	init[4] = 26 // FUSE_INIT, little endian
	if KernelResends(init) {
		t.Error("resend without FUSE_HAS_RESEND")
	}
	init[40+16+0] = 1 << 7 // flags2 bit 7 = flag 39
	if !KernelResends(init) {
		t.Error("no resend with FUSE_HAS_RESEND")
	}
}

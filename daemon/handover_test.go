package daemon

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/fs"
)

// TestWire: a message and its descriptors cross the socket whole; a newer
// version and an error are refused; expect wants the right type.
func TestWire(t *testing.T) {
	a, bf, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := fileConn(bf)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	deadline := func() time.Time { return time.Now().Add(5 * time.Second) }

	sent := &message{Type: "offer", Version: wireVersion, PID: 42, Init: []byte{1, 2, 3},
		Mount: &MountID{Dir: "/m", Dev: "0:53"}, Holder: &holderInfo{Socket: "/s", PID: 7},
		State: &fs.State{Version: fs.StateVersion, HandleEpoch: 5}, Files: []string{"conn"}}
	if err := send(a, sent, w); err != nil {
		t.Fatal(err)
	}
	m, files, err := expect(b, "offer", deadline())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("%d descriptors, want 1", len(files))
	}
	files[0].Write([]byte("x"))
	files[0].Close()
	buf := make([]byte, 1)
	if _, err := r.Read(buf); err != nil || buf[0] != 'x' {
		t.Errorf("the passed descriptor: %q %v", buf, err)
	}
	if m.PID != 42 || string(m.Init) != "\x01\x02\x03" || *m.Mount != *sent.Mount || *m.Holder != *sent.Holder || m.State.HandleEpoch != 5 {
		t.Errorf("received %+v", m)
	}

	send(a, &message{Type: "state"})
	if _, _, err := expect(b, "ready", deadline()); err == nil || !strings.Contains(err.Error(), `got "state"`) {
		t.Errorf("expect of the wrong type: %v", err)
	}
	send(a, &message{Type: "offer", Version: wireVersion + 1})
	if _, _, err := recv(b, deadline()); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("a newer version: %v", err)
	}
	send(a, &message{Type: "error", Error: "no"})
	if _, _, err := recv(b, deadline()); err == nil || !strings.Contains(err.Error(), "peer: no") {
		t.Errorf("an error message: %v", err)
	}
}

package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/fs"
)

// TestNotifier: a message reaches the notify socket with its descriptors;
// without a socket nothing is sent.
func TestNotifier(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := (Notifier{}).Notify("READY=1"); err != nil || (Notifier{}).Enabled() {
		t.Fatalf("the zero Notifier: %v", err)
	}
	n := Notifier{Socket: path}
	if err := n.Notify("FDSTORE=1\nFDNAME=x", int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 256), make([]byte, 256)
	k, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:k]); got != "FDSTORE=1\nFDNAME=x" {
		t.Errorf("message %q", got)
	}
	cms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cms) != 1 {
		t.Fatalf("control messages %v %v", cms, err)
	}
	fds, err := unix.ParseUnixRights(&cms[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("descriptors %v %v", fds, err)
	}
	got := os.NewFile(uintptr(fds[0]), "passed")
	defer got.Close()
	if _, err := got.Write([]byte("x")); err != nil {
		t.Fatalf("the passed pipe end: %v", err)
	}
	b := make([]byte, 1)
	if _, err := r.Read(b); err != nil || b[0] != 'x' {
		t.Errorf("read %q %v", b, err)
	}
}

// TestFDStoreSlots: the two memfds take turns, the newer state wins, a
// slot whose checksum fails is ignored, and a successor that adopts the
// memfds continues the sequence.
func TestFDStoreSlots(t *testing.T) {
	st := &fdStore{}
	for i := range st.slots {
		fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC)
		if err != nil {
			t.Skipf("memfd: %v", err)
		}
		st.slots[i] = os.NewFile(uintptr(fd), "test")
	}
	defer st.close()
	mid := MountID{Dir: "/m", Dev: "0:53"}
	for i := range 3 {
		if err := st.put([]byte("init"), mid, &fs.State{Version: fs.StateVersion, HandleEpoch: uint16(i)}); err != nil {
			t.Fatal(err)
		}
	}
	newest := func(slots [2]*os.File) (uint64, *fdStoreState) {
		var best *fdStoreState
		var bestSeq uint64
		for _, f := range slots {
			if seq, s := readSlot(int(f.Fd())); s != nil && seq >= bestSeq {
				best, bestSeq = s, seq
			}
		}
		return bestSeq, best
	}
	seq, s := newest(st.slots)
	if seq != 3 || s == nil || s.State.HandleEpoch != 2 || string(s.Init) != "init" || s.Mount != mid {
		t.Fatalf("newest slot: %d %+v", seq, s)
	}
	// A torn write: the newest slot's body no longer matches its checksum.
	if _, err := unix.Pwrite(int(st.slots[seq%2].Fd()), []byte("X"), 20); err != nil {
		t.Fatal(err)
	}
	if seq, s := newest(st.slots); seq != 2 || s == nil || s.State.HandleEpoch != 1 {
		t.Fatalf("with the newest slot torn: %d %+v", seq, s)
	}
	// A successor adopts copies of the memfds and writes over the torn slot.
	var files []*os.File
	for _, f := range st.slots {
		d, err := unix.Dup(int(f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, os.NewFile(uintptr(d), "slot"))
	}
	next := adoptFDStore(files)
	defer next.close()
	if err := next.put([]byte("init"), mid, &fs.State{Version: fs.StateVersion, HandleEpoch: 9}); err != nil {
		t.Fatal(err)
	}
	if seq, s := newest(st.slots); seq != 3 || s == nil || s.State.HandleEpoch != 9 {
		t.Fatalf("after the successor's put: %d %+v", seq, s)
	}
}

// TestFromFDStoreNothing: without descriptors from systemd there is nothing
// to resume.
func TestFromFDStoreNothing(t *testing.T) {
	if kept, err := fromFDStore(0, strings.Split("", ":")); kept != nil || err != nil {
		t.Fatalf("%v %v", kept, err)
	}
}

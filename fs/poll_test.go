package fs

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParsePSITrigger(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"some 20000 2000000\x00", "some 20000 2000000\x00", nil},
		{"full 150000 1000000\n", "full 150000 2000000\x00", nil}, // window not a multiple of 2 s
		{"some 1 4000000", "some 1 4000000\x00", nil},
		{"some 10000000 10000000", "some 10000000 10000000\x00", nil},
		{"", "", unix.EINVAL},
		{"avg 1 2000000", "", unix.EINVAL},
		{"some 0 2000000", "", unix.EINVAL},
		{"some 3000000 2000000", "", unix.EINVAL},
		{"some 1 0", "", unix.EINVAL},
		{"some 1 10000001", "", unix.EINVAL},
		{"some x 2000000", "", unix.EINVAL},
		{"some 1 2000000 extra", "", unix.EINVAL},
		// Only 32 bytes count: the window is cut to 200 us, then made 2 s.
		{"some 1                       2000001", "some 1 2000000\x00", nil},
		{"some 5000000                 3000000", "", unix.EINVAL}, // window 3000 -> 2 s < threshold
	} {
		got, err := ParsePSITrigger([]byte(tc.in))
		if !errors.Is(err, tc.err) || (err == nil && string(got) != tc.want) {
			t.Errorf("%q: %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

type fakePoller struct {
	fh, kh         uint64
	flags, events  uint32
	revents        uint32
	handled        bool
	notifyReceived func(uint64)
}

func (f *fakePoller) PollFile(fh, kh uint64, flags, events uint32, notify func(uint64)) (uint32, bool) {
	f.fh, f.kh, f.flags, f.events = fh, kh, flags, events
	return f.revents, f.handled
}

// fakeRaw is a RawFileSystem-shaped value for Server.fs; only PollFile is
// used.
type fakeRaw struct {
	*FS
	*fakePoller
}

func (r fakeRaw) PollFile(fh, kh uint64, flags, events uint32, notify func(uint64)) (uint32, bool) {
	return r.fakePoller.PollFile(fh, kh, flags, events, notify)
}

func pollRequest(unique, fh, kh uint64, flags, events uint32) []byte {
	b := make([]byte, inHeaderSize+pollInSize)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint32(b[4:], opPoll)
	binary.NativeEndian.PutUint64(b[8:], unique)
	binary.NativeEndian.PutUint64(b[inHeaderSize:], fh)
	binary.NativeEndian.PutUint64(b[inHeaderSize+8:], kh)
	binary.NativeEndian.PutUint32(b[inHeaderSize+16:], flags)
	binary.NativeEndian.PutUint32(b[inHeaderSize+20:], events)
	return b
}

func TestServerPoll(t *testing.T) {
	fp := &fakePoller{revents: unix.POLLPRI, handled: true}
	s := &Server{fs: fakeRaw{FS: New(Options{}), fakePoller: fp}}
	out := make([]byte, 256)
	w, st, ok := s.poll(pollRequest(77, 5, 9, 1, unix.POLLPRI), out)
	if !ok || !st.Ok() || w != outHeaderSize+pollOutSize {
		t.Fatalf("poll = %d, %v, %v", w, st, ok)
	}
	if fp.fh != 5 || fp.kh != 9 || fp.flags != 1 || fp.events != unix.POLLPRI {
		t.Errorf("PollFile got %+v", fp)
	}
	if l := binary.NativeEndian.Uint32(out[0:]); l != uint32(w) {
		t.Errorf("reply length %d, want %d", l, w)
	}
	if e := int32(binary.NativeEndian.Uint32(out[4:])); e != 0 {
		t.Errorf("reply error %d", e)
	}
	if u := binary.NativeEndian.Uint64(out[8:]); u != 77 {
		t.Errorf("reply unique %d, want 77", u)
	}
	if r := binary.NativeEndian.Uint32(out[outHeaderSize:]); r != unix.POLLPRI {
		t.Errorf("revents %#x, want POLLPRI", r)
	}

	// Not handled (no --enable-psi-poll): left to go-fuse.
	fp.handled = false
	if _, _, ok := s.poll(pollRequest(78, 5, 9, 1, 0), out); ok {
		t.Error("unhandled POLL was answered")
	}
	// Other opcodes and short requests pass through.
	req := pollRequest(79, 5, 9, 1, 0)
	binary.NativeEndian.PutUint32(req[4:], 15) // READ
	if _, _, ok := s.poll(req, out); ok {
		t.Error("a READ was taken for a POLL")
	}
	if _, _, ok := s.poll(req[:20], out); ok {
		t.Error("a short request was answered")
	}
}

// TestPollWithoutPSI: with a Content that has no PSI support, POLL is left
// to go-fuse (ENOSYS), as lxcfs does without --enable-psi-poll.
func TestPollWithoutPSI(t *testing.T) {
	fs := New(Options{})
	if _, handled := fs.PollFile(1, 1, 1, 0, func(uint64) {}); handled {
		t.Error("POLL handled without --enable-psi-poll")
	}
}

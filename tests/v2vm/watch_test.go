package v2vm

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// fakeQemu drives vmRun.watch as runVM does: console lines, DONE, and the
// end of the console when killed.
type fakeQemu struct {
	lines, sawDone, done chan struct{}
	stdin                serialIn
	once                 sync.Once
}

// serialIn is the guest's serial input: what was written, and a signal
// for each write.
type serialIn struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	poked chan struct{}
}

func (s *serialIn) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.poked <- struct{}{}
	return s.buf.Write(p)
}

func (s *serialIn) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func newFakeQemu() *fakeQemu {
	q := &fakeQemu{lines: make(chan struct{}, 1), sawDone: make(chan struct{}), done: make(chan struct{})}
	q.stdin.poked = make(chan struct{}, 8)
	return q
}

func (q *fakeQemu) kill() { q.once.Do(func() { close(q.done) }) }

func (q *fakeQemu) watch(t *testing.T, spec vmSpec, r *vmRun) (timedOut bool, took time.Duration) {
	t.Helper()
	spec.Logf = t.Logf
	start := time.Now()
	timedOut = r.watch(spec, &q.stdin, q.lines, q.sawDone, q.done, start, q.kill)
	return timedOut, time.Since(start)
}

// A guest silent for PokeAfter is poked; silent for as long again, it is
// frozen: the run ends (no QMP socket here, so qemu is killed at once)
// long before the time limit.
func TestWatchFrozenGuest(t *testing.T) {
	t.Parallel()
	q := newFakeQemu()
	r := &vmRun{}
	timedOut, took := q.watch(t, vmSpec{Timeout: time.Minute, PokeAfter: 20 * time.Millisecond}, r)
	if !timedOut || !r.Frozen {
		t.Fatalf("timedOut %v, frozen %v; want both", timedOut, r.Frozen)
	}
	if len(r.Pokes) != 1 || r.Pokes[0].Resumed {
		t.Errorf("pokes %+v; want one, not resumed", r.Pokes)
	}
	if q.stdin.String() != "\n" {
		t.Errorf("wrote %q to the guest's serial input; want one newline", q.stdin.String())
	}
	if took > 10*time.Second {
		t.Errorf("the frozen guest was given up after %v", took)
	}
}

// A guest that prints again after a poke is not frozen; one that says DONE
// is stopped, and the time limit then does not count.
func TestWatchResumedGuest(t *testing.T) {
	t.Parallel()
	q := newFakeQemu()
	r := &vmRun{}
	go func() {
		<-q.stdin.poked
		q.lines <- struct{}{}
		close(q.sawDone)
		// watch stops qemu 10 s after DONE; end the console first, as
		// a guest powering off does.
		q.kill()
	}()
	timedOut, _ := q.watch(t, vmSpec{Timeout: time.Minute, PokeAfter: 40 * time.Millisecond}, r)
	if timedOut || r.Frozen {
		t.Fatalf("timedOut %v, frozen %v; want neither", timedOut, r.Frozen)
	}
	if len(r.Pokes) == 0 || !r.Pokes[0].Resumed || r.Pokes[0].After <= 0 {
		t.Errorf("pokes %+v; want the first resumed after it", r.Pokes)
	}
}

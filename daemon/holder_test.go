package daemon

import (
	"testing"
	"time"
)

// TestKeepStateOnChange: the node table is stored at start and after it
// changes, and not otherwise (an idle daemon does not wake up for it); a
// failed store is retried.
func TestKeepStateOnChange(t *testing.T) {
	changed := make(chan struct{}, 1)
	puts := make(chan int, 16)
	var n int
	fail := true
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		keepState(changed, 5*time.Millisecond, stop, func() bool {
			n++
			puts <- n
			if n == 2 && fail {
				fail = false
				return false
			}
			return true
		})
		close(done)
	}()
	defer func() { close(stop); <-done }()
	wait := func(what string) int {
		t.Helper()
		select {
		case v := <-puts:
			return v
		case <-time.After(5 * time.Second):
			t.Fatalf("no store %s", what)
		}
		return 0
	}
	wait("at start")
	select {
	case <-puts:
		t.Fatal("stored again with no change")
	case <-time.After(100 * time.Millisecond):
	}
	changed <- struct{}{}
	if v := wait("after a change"); v != 2 {
		t.Errorf("store %d after a change, want the 2nd", v)
	}
	if v := wait("after a failed store"); v != 3 { // the retry
		t.Errorf("store %d after a failure, want the 3rd (a retry)", v)
	}
	select {
	case <-puts:
		t.Fatal("stored again after the retry with no change")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestNextHandleEpoch(t *testing.T) {
	for e, want := range map[uint16]uint16{0: 1, 1: 2, 7: 8, 0xffff: 1} {
		if got := nextHandleEpoch(e); got != want {
			t.Errorf("nextHandleEpoch(%d) = %d, want %d", e, got, want)
		}
	}
}

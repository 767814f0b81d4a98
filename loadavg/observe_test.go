package loadavg

import (
	"testing"
	"time"
)

func TestObserveTicks(t *testing.T) {
	s := New(Options{Counter: &fakeCounter{}})
	var got []time.Duration
	s.ObserveTicks(func(d time.Duration) { got = append(got, d) })
	s.Tick(time.Now())
	s.Tick(time.Now())
	if len(got) != 2 {
		t.Fatalf("observed %d ticks, want 2", len(got))
	}
}

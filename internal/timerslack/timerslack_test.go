package timerslack

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// threadSlacks maps each thread of this process to its timer slack.
func threadSlacks(t *testing.T) map[string]int64 {
	t.Helper()
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, tid := range tids {
		b, err := os.ReadFile("/proc/" + tid.Name() + "/timerslack_ns")
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("thread %s: timerslack_ns %q", tid.Name(), b)
		}
		m[tid.Name()] = n
	}
	return m
}

// TestSetTimerSlack: every thread of the process, the runtime's own
// included, gets the slack, and so does a thread created afterwards.
func TestSetTimerSlack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting other threads' timer slack needs CAP_SYS_NICE")
	}
	const d = 3 * time.Millisecond
	if err := Set(d); err != nil {
		t.Fatal(err)
	}
	before := threadSlacks(t)
	if len(before) < 2 {
		t.Fatalf("only %d threads seen", len(before))
	}
	for tid, n := range before {
		if n != d.Nanoseconds() {
			t.Errorf("thread %s: slack %d ns, want %d", tid, n, d.Nanoseconds())
		}
	}
	// A goroutine locked to its thread while others are busy makes the
	// runtime start new threads; they inherit the slack.
	done := make(chan struct{})
	started := make(chan struct{})
	for range 4 {
		go func() {
			runtime.LockOSThread()
			started <- struct{}{}
			<-done
		}()
	}
	for range 4 {
		<-started
	}
	after := threadSlacks(t)
	close(done)
	if len(after) <= len(before) {
		t.Logf("no new thread appeared (%d before, %d after)", len(before), len(after))
	}
	for tid, n := range after {
		if n != d.Nanoseconds() {
			t.Errorf("thread %s (new: %v): slack %d ns, want %d", tid, before[tid] == 0, n, d.Nanoseconds())
		}
	}
}

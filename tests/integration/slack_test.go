package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestTimerSlack: a daemon serving on the classic loop runs every thread
// with 1 ms of timer slack (cmd/lxcfs-go/slack.go says why), the threads
// it starts after the mount included.
func TestTimerSlack(t *testing.T) {
	t.Parallel()
	d := testenv.StartDaemon(t)
	// Reads start readers and so threads; they must inherit the slack.
	for range 20 {
		if _, err := os.ReadFile(d.Mnt + "/proc/meminfo"); err != nil {
			t.Fatal(err)
		}
	}
	const want = int64(time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		wrong := threadsWithSlackOtherThan(t, d.PID, want)
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon threads without %d ns of timer slack: %s", want, strings.Join(wrong, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// threadsWithSlackOtherThan lists the threads of pid whose timer slack is
// not want, as "tid=slack".
func threadsWithSlackOtherThan(t *testing.T, pid int, want int64) []string {
	t.Helper()
	tids, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	var wrong []string
	for _, tid := range tids {
		b, err := os.ReadFile("/proc/" + tid.Name() + "/timerslack_ns")
		if err != nil {
			continue // exited
		}
		if n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); n != want {
			wrong = append(wrong, tid.Name()+"="+strings.TrimSpace(string(b)))
		}
	}
	return wrong
}

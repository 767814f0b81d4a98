// Package timerslack sets the timer slack of every thread of the process:
// how late the kernel may fire a thread's timers to batch wake-ups
// (prctl(2) PR_SET_TIMERSLACK; 50 us by default). The daemon sets it for
// its classic FUSE loop (cmd/lxcfs-go/slack.go says why), and the density
// benchmark's floor does the same, so that the two are compared alike.
package timerslack

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Set sets the timer slack of every thread of this process to d; threads
// created later inherit it from the thread that creates them. A thread is
// reached through /proc/<tid>, which works for any thread though only
// leaders are listed; setting another thread's slack needs CAP_SYS_NICE.
// Threads may be created while it runs, so it passes over them until one
// pass finds every thread set.
func Set(d time.Duration) error {
	want := []byte(strconv.FormatInt(d.Nanoseconds(), 10))
	for range 5 {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		changed := false
		for _, t := range tids {
			p := "/proc/" + t.Name() + "/timerslack_ns"
			cur, err := os.ReadFile(p)
			if err != nil {
				continue // the thread exited
			}
			if bytes.Equal(bytes.TrimSpace(cur), want) {
				continue
			}
			if err := os.WriteFile(p, want, 0); err != nil {
				return fmt.Errorf("timer slack of thread %s: %w", t.Name(), err)
			}
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return fmt.Errorf("timer slack: threads kept appearing unset")
}

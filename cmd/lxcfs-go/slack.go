package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// timerSlack is the daemon's timer slack: how late the kernel may fire a
// timer of any of its threads, to batch wake-ups (the default is 50 us).
//
// Why: while a FUSE reader waits in read(2), its P (a Go scheduler slot) is
// in a system call, and the runtime's sysmon thread polls every 20 us until
// every P is idle or it takes the P back, 10 ms later: about 60 wake-ups
// after every burst of requests, whatever the daemon does. At 1 ms of slack
// those polls coalesce to about 10. Measured on our 2-CPU VM (bench/README):
// at 300 containers the daemon's CPU fell from 1.73-1.77x lxcfs's to
// 1.00-1.03x and its wake-ups from 2,600 to 1,100 a second; one reader's
// meminfo p50 from 116-126 to 72-77 us. Nothing in the daemon waits on a
// timer for a reply: a request wakes its reader at once; only timeouts and
// periodic work (the loadavg sampler, cache sweeps) may run up to 1 ms late.
//
// Only the classic loop gets it. On rings the same slack made one reader's
// meminfo slower (p50 57-80 us -> 101-110 us, two runs each; why is not
// known: perhaps a ring thread that finds its P taken then waits for
// sysmon to free one). Ring threads wait in io_uring_enter(2), and at
// 2,000 containers wake about half as often as the classic readers anyway.
const timerSlack = time.Millisecond

// setTimerSlack sets the timer slack of every thread of this process to d;
// threads created later inherit it from the thread that creates them. A
// thread is reached through /proc/<tid>, which works for any thread though
// only leaders are listed; setting another thread's slack needs CAP_SYS_NICE.
// Threads may be created while it runs, so it passes over them until one
// pass finds every thread set.
func setTimerSlack(d time.Duration) error {
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

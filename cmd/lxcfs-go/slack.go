package main

import "time"

// timerSlack is the daemon's timer slack: how late the kernel may fire a
// timer of any of its threads, to batch wake-ups (the default is 50 us).
//
// Why: while a FUSE reader waits in read(2), its P (a Go scheduler slot) is
// in a system call, and the runtime's sysmon thread polls every 20 us until
// every P is idle or it takes the P back, 10 ms later: about 60 wake-ups
// after every burst of requests, whatever the daemon does. At 1 ms of slack
// each of those sleeps lasts about 1 ms, so about 10 remain. Measured on our 2-CPU VM (bench/README):
// at 300 containers the daemon's CPU fell from 1.73-1.77x lxcfs's to
// 1.00-1.03x and its wake-ups from 2,600 to 1,100 a second; one reader's
// meminfo p50 from 116-126 to 72-77 us. Nothing in the daemon waits on a
// timer for a reply: a request wakes its reader at once; only timeouts and
// periodic work (the loadavg sampler, cache sweeps) may run up to 1 ms late.
//
// Only the classic loop gets it. On rings it saved as much at density (at
// 2,000 containers 10.9 -> 7.8 s of CPU in the 60 s window) but made one
// reader's meminfo slower (p50 57-80 -> 101-110 us, two runs each; why is
// not known: perhaps a ring thread that finds its P taken then waits for
// sysmon to free one). Rings serve only where nothing keeps the connection
// across a crash (docs/fuse-uring.md), so the classic loop is what runs at
// density.
const timerSlack = time.Millisecond

// Command reader reads a file every -interval, as a process in a pod reads
// its /proc/meminfo, and prints one line per read for the e2e test
// (tests/kubernetes) to count:
//
//	<unix ms> ok <MemTotal in kB> <read time in µs>
//	<unix ms> fail <error>
//
// A read that hangs shows as a gap between lines: the ticker drops the
// ticks it misses.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	file := flag.String("file", "/proc/meminfo", "`file` to read")
	interval := flag.Duration("interval", 20*time.Millisecond, "time between reads")
	flag.Parse()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	out := bufio.NewWriter(os.Stdout)
	tick := time.NewTicker(*interval)
	for {
		select {
		case <-sig:
			out.Flush()
			return
		case <-tick.C:
		}
		start := time.Now()
		b, err := os.ReadFile(*file)
		now := time.Now()
		if err == nil {
			if v := memTotal(b); v != "" {
				fmt.Fprintf(out, "%d ok %s %d\n", now.UnixMilli(), v, now.Sub(start).Microseconds())
			} else {
				fmt.Fprintf(out, "%d fail no MemTotal in %d bytes\n", now.UnixMilli(), len(b))
			}
		} else {
			fmt.Fprintf(out, "%d fail %v\n", now.UnixMilli(), err)
		}
		out.Flush()
	}
}

// memTotal is the number of "MemTotal:   196608 kB", or "".
func memTotal(meminfo []byte) string {
	for line := range bytes.Lines(meminfo) {
		if rest, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			if f := strings.Fields(string(rest)); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// Command reader is the container-side reader of the real-systemd tests
// (tests/realsystemd): it reads one file (a bind mount of lxcfs-go's
// proc/meminfo over /proc/meminfo) at a fixed cadence and appends one line
// per read to a log file, which the test parses afterwards.
//
// A Go program rather than a shell loop: it times every read to the
// microsecond, names the errno of a failure, and never forks, so a read that
// hangs shows as a missing line rather than as a stuck pipeline.
//
// Log format, one line per read, fields separated by one space:
//
//	# reader pid=PID file=FILE interval=DUR              (once, at start)
//	END_MS DUR_US ok MEMTOTAL_KB
//	END_MS DUR_US fail ERRNO TEXT...
//
// END_MS is when the read finished (Unix milliseconds), DUR_US how long the
// open-read-close took. MEMTOTAL_KB is the MemTotal value (-1 if the file
// has none); ERRNO is the errno's name (ENOTCONN, ECONNABORTED, ...), or "-"
// for a failure without one; TEXT is Go's text for the error.
//
// Build it static (CGO_ENABLED=0): it runs inside a Debian rootfs.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	out := flag.String("out", "", "log file to append to (default: stdout)")
	interval := flag.Duration("interval", 20*time.Millisecond, "time between the starts of two reads")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [-out FILE] [-interval DUR] FILE\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	file := flag.Arg(0)
	w := os.Stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		w = f
	}
	emit(w, fmt.Sprintf("# reader pid=%d file=%s interval=%v", os.Getpid(), file, *interval))
	buf := make([]byte, 64*1024)
	next := time.Now()
	for {
		start := time.Now()
		memTotal, err := readOnce(file, buf)
		end := time.Now()
		emit(w, logLine(end, end.Sub(start), memTotal, err))
		// A fixed cadence: a slow read is followed by the next one at once,
		// not by a whole interval of silence.
		next = next.Add(*interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		} else {
			next = time.Now()
		}
	}
}

// readOnce opens, reads and closes file as free(1) does, and returns its
// MemTotal in kB (-1 if it has none).
func readOnce(file string, buf []byte) (int64, error) {
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: file, Err: err}
	}
	defer unix.Close(fd)
	var data []byte
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: file, Err: err}
		}
		if n == 0 {
			break
		}
		data = append(data, buf[:n]...)
	}
	return memTotal(data), nil
}

// memTotal is the number on the "MemTotal:" line, -1 if there is none.
func memTotal(data []byte) int64 {
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				if n, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
					return n
				}
			}
		}
	}
	return -1
}

func logLine(end time.Time, dur time.Duration, memTotal int64, err error) string {
	head := fmt.Sprintf("%d %d", end.UnixMilli(), dur.Microseconds())
	if err == nil {
		return fmt.Sprintf("%s ok %d", head, memTotal)
	}
	name := "-"
	var errno unix.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			name = n
		}
	}
	return fmt.Sprintf("%s fail %s %v", head, name, err)
}

// emit writes one line in one write(2) (the file is O_APPEND), so that a
// reader of the log never sees half a line.
func emit(w *os.File, line string) {
	if _, err := w.WriteString(line + "\n"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

package density

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/lxcfs-go/lxcfs-go/bench/internal/op"
)

// readerSpec tells the reader of one container what to read and when.
type readerSpec struct {
	Container int
	// Paths[target][file]: the files (see files) under each daemon's mount.
	Paths [][]string
	// Rounds after the first start at Epoch + Offset + k*Period (Epoch in
	// Unix nanoseconds; every pid namespace shares the clock), so that the
	// readers of all containers spread evenly over the period.
	Epoch  int64
	Offset time.Duration
	Period time.Duration
	// MemTotalKiB is the container's memory limit: what meminfo's MemTotal
	// shows when the daemon found the reader's container.
	MemTotalKiB int64
}

// record is one timed read, as the reader writes it to the pipe shared by
// every reader: fixed size, little-endian, a round's records in one
// write(2) of less than PIPE_BUF bytes, so that no two readers' records
// interleave.
type record struct {
	Container uint32
	Target    uint8
	File      uint8
	// First is 1 for the reads of the container's first round.
	First uint8
	// View is, for a meminfo read, viewContainer or viewHost; 0 otherwise.
	View  uint8
	Errno int32
	Bytes int32
	// Start is when the open began (Unix nanoseconds), Nanos how long
	// open + read to EOF + close took.
	Start int64
	Nanos int64
}

const (
	viewContainer = 1
	viewHost      = 2
)

var recordSize = binary.Size(record{})

// runReader is the reader process, pid 2 of its container: a first round
// at once, then one every spec.Period at its offset, until it is killed.
func runReader(specJSON string) int {
	var spec readerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "density reader: %v\n", err)
		return 1
	}
	buf := make([]byte, 64<<10)
	// Fault in the op's code before the first timed read, which should
	// time the daemon's first sight of the container, not this process's
	// start.
	op.Read("/proc/self/stat", buf)
	out := make([]byte, 0, 4096)
	for k := 0; ; k++ {
		if k > 0 {
			time.Sleep(time.Until(nextRound(spec, time.Now())))
		}
		out = readRound(spec, k, buf, out[:0])
		if _, err := os.Stdout.Write(out); err != nil {
			// The benchmark is gone.
			return 0
		}
	}
}

// nextRound is the first of the reader's round times after now.
func nextRound(spec readerSpec, now time.Time) time.Time {
	since := now.UnixNano() - spec.Epoch - int64(spec.Offset)
	k := int64(0)
	if since >= 0 {
		k = since/int64(spec.Period) + 1
	}
	return time.Unix(0, spec.Epoch+int64(spec.Offset)+k*int64(spec.Period))
}

// readRound reads every file from every daemon once and appends their
// records to out. The daemons take turns to go first (by container and
// round), so that neither always pays for the reader's cold caches.
func readRound(spec readerSpec, k int, buf, out []byte) []byte {
	n := len(spec.Paths)
	for j := range n {
		target := j
		if (spec.Container+k)%2 == 1 {
			target = n - 1 - j
		}
		for file, path := range spec.Paths[target] {
			start := time.Now()
			size, err := op.Read(path, buf)
			took := time.Since(start)
			r := record{
				Container: uint32(spec.Container), Target: uint8(target), File: uint8(file),
				Bytes: int32(size), Start: start.UnixNano(), Nanos: int64(took),
			}
			if k == 0 {
				r.First = 1
			}
			var errno syscall.Errno
			switch {
			case errors.As(err, &errno):
				r.Errno = int32(errno)
			case err != nil:
				r.Errno = -1
			case files[file] == "meminfo":
				r.View = memView(buf[:size], spec.MemTotalKiB)
			}
			out, _ = binary.Append(out, binary.LittleEndian, r)
		}
	}
	return out
}

// memView says whether meminfo shows the container's memory limit as
// MemTotal (the daemon found the reader's container) or not.
func memView(meminfo []byte, limitKiB int64) uint8 {
	for line := range bytes.SplitSeq(meminfo, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			kib, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err == nil && kib <= limitKiB {
				return viewContainer
			}
			return viewHost
		}
	}
	return viewHost
}

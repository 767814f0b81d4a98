// Package wire is the line protocol between the v2vm guest (PID 1 of the
// test VM) and the host-side test that reads the VM's serial console.
//
// The guest writes one record per line, each starting with a fixed marker so
// that kernel messages interleaved on the console are ignored:
//
//	V2VM-RESULT {"name":"limited/meminfo/MemTotal","status":"fail",...}
//	V2VM-INFO {"name":"nullblk/io.stat","text":"252:0 rbytes=..."}
//	V2VM-ITEST "=== RUN   TestMeminfo"
//	V2VM-DONE rc=0 uptime=4.21
//
// RESULT lines become subtests on the host; INFO lines are logged; ITEST lines
// carry the raw output of the integration test binary (run with
// -test.v=test2json) as JSON strings, so that control characters survive the
// console; DONE ends the run.
package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Markers that start each protocol line.
const (
	MarkResult = "V2VM-RESULT "
	MarkInfo   = "V2VM-INFO "
	MarkITest  = "V2VM-ITEST "
	MarkDone   = "V2VM-DONE "
)

// Status of one check.
type Status string

// Statuses a Result can have.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is the outcome of one check inside the guest.
type Result struct {
	// Name is a slash-separated path: scenario, then check, e.g.
	// "limited/meminfo/MemTotal". The host makes one nested subtest per
	// component.
	Name   string `json:"name"`
	Status Status `json:"status"`
	// File and Field say what was checked, e.g. "/mnt/lxcfs/proc/meminfo"
	// and "MemTotal"; Want and Got are the expected and actual values.
	File  string `json:"file,omitempty"`
	Field string `json:"field,omitempty"`
	Want  string `json:"want,omitempty"`
	Got   string `json:"got,omitempty"`
	// Msg explains a failure or skip; Detail is context (the cgroup values
	// the expectation came from, the file's content).
	Msg    string `json:"msg,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Message is the one-line human form of r, naming the file and field.
func (r Result) Message() string {
	var b strings.Builder
	if r.File != "" {
		b.WriteString(r.File)
		if r.Field != "" {
			b.WriteString(": ")
			b.WriteString(r.Field)
		}
		b.WriteString(": ")
	} else if r.Field != "" {
		b.WriteString(r.Field)
		b.WriteString(": ")
	}
	switch {
	case r.Want != "" || r.Got != "":
		fmt.Fprintf(&b, "got %q, want %q", r.Got, r.Want)
		if r.Msg != "" {
			b.WriteString(" (")
			b.WriteString(r.Msg)
			b.WriteString(")")
		}
	default:
		b.WriteString(r.Msg)
	}
	return b.String()
}

// Info is a named piece of text the guest reports for the log, such as the
// io.stat of a cgroup after a known amount of I/O.
type Info struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Done is the final line of a run.
type Done struct {
	// RC is the number of failed checks, or 124 when the guest's own
	// watchdog fired.
	RC int
	// Uptime is the guest's /proc/uptime (seconds since its kernel started).
	Uptime float64
}

// FormatResult returns r as a protocol line without the newline.
func FormatResult(r Result) string { return MarkResult + mustJSON(r) }

// FormatInfo returns i as a protocol line without the newline.
func FormatInfo(i Info) string { return MarkInfo + mustJSON(i) }

// FormatITest returns one raw output line of the integration test binary as
// a protocol line.
func FormatITest(raw string) string { return MarkITest + mustJSON(raw) }

// FormatDone returns d as a protocol line.
func FormatDone(d Done) string {
	return fmt.Sprintf("%src=%d uptime=%.2f", MarkDone, d.RC, d.Uptime)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only strings and plain structs are marshalled: cannot happen.
		panic(err)
	}
	return string(b)
}

// Line is one parsed protocol line; exactly one field is set.
type Line struct {
	Result *Result
	Info   *Info
	ITest  *string
	Done   *Done
}

// ParseLine finds a protocol record in one console line. It returns ok=false
// for lines that carry none (kernel messages, daemon logs). A marker may be
// preceded by other output on the same line (a kernel message without a
// newline), so it is searched for, not required at the start. err is set for
// a marker followed by a malformed record.
func ParseLine(s string) (l Line, ok bool, err error) {
	s = strings.TrimRight(s, "\r\n")
	for _, m := range []string{MarkResult, MarkInfo, MarkITest, MarkDone} {
		i := strings.Index(s, m)
		if i < 0 {
			continue
		}
		rest := s[i+len(m):]
		switch m {
		case MarkResult:
			var r Result
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return Line{}, true, fmt.Errorf("bad result record %q: %w", rest, err)
			}
			return Line{Result: &r}, true, nil
		case MarkInfo:
			var in Info
			if err := json.Unmarshal([]byte(rest), &in); err != nil {
				return Line{}, true, fmt.Errorf("bad info record %q: %w", rest, err)
			}
			return Line{Info: &in}, true, nil
		case MarkITest:
			var raw string
			if err := json.Unmarshal([]byte(rest), &raw); err != nil {
				return Line{}, true, fmt.Errorf("bad integration output record %q: %w", rest, err)
			}
			return Line{ITest: &raw}, true, nil
		case MarkDone:
			d, err := parseDone(rest)
			if err != nil {
				return Line{}, true, err
			}
			return Line{Done: &d}, true, nil
		}
	}
	return Line{}, false, nil
}

func parseDone(s string) (Done, error) {
	var d Done
	seenRC := false
	for _, kv := range strings.Fields(s) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "rc":
			n, err := strconv.Atoi(v)
			if err != nil {
				return Done{}, fmt.Errorf("bad done record %q: %w", s, err)
			}
			d.RC, seenRC = n, true
		case "uptime":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return Done{}, fmt.Errorf("bad done record %q: %w", s, err)
			}
			d.Uptime = f
		}
	}
	if !seenRC {
		return Done{}, fmt.Errorf("bad done record %q: no rc", s)
	}
	return d, nil
}

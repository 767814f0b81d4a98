package realsystemd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The reader inside the container (see reader/main.go).
const (
	readerBin      = "/usr/local/bin/lxcfs-go-test-reader"
	readerLog      = "/var/log/lxcfs-go-test/reader.log"
	readerUnit     = "lxcfs-go-test-reader.service"
	readerInterval = 20 * time.Millisecond
)

// buildReader builds ./reader as a static binary (it runs in the rootfs,
// whatever its libc).
func buildReader(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "reader")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./reader")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./reader: %v\n%s", err, b)
	}
	return out
}

// reader is the reader process in the container: a transient service of
// the container's systemd (so that it is the container's process, in its
// cgroups, and ends with it), in a mount namespace of its own where the
// lxcfs-go file is bound over /proc/meminfo, as a container runtime binds
// it.
type reader struct {
	t       testing.TB
	m       *machine
	log     string // the log file, as the host sees it
	mainPID int    // in the container's pid namespace
}

// startReader starts the reader on the mount's file src (e.g.
// /var/lib/lxcfs/proc/meminfo) and returns once it has read the file
// successfully a few times.
func startReader(t testing.TB, m *machine, src string) *reader {
	t.Helper()
	copyFile(t, buildReader(t), filepath.Join(m.root, readerBin), 0o755)
	r := &reader{t: t, m: m, log: filepath.Join(m.root, readerLog)}
	if err := os.MkdirAll(filepath.Dir(r.log), 0o755); err != nil {
		t.Fatal(err)
	}
	// unshare without --fork execs sh, which execs the reader: the unit's
	// main process is the reader itself. --propagation private: the bind
	// stays in the reader's namespace, as a container's binds do.
	script := fmt.Sprintf("mount --bind %s /proc/meminfo && exec %s -interval %v -out %s /proc/meminfo",
		src, readerBin, readerInterval, readerLog)
	m.mustRun("systemd-run", "--quiet", "--unit="+readerUnit, "--service-type=exec",
		"--", "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	if _, err := r.waitFor(10*time.Second, "5 successful reads", func(s []sample) bool {
		n := 0
		for _, x := range s {
			if x.ok {
				n++
			}
		}
		return n >= 5
	}); err != nil {
		t.Fatalf("reader: %v\n%s", err, m.journal(readerUnit, 30))
	}
	pid, err := r.pid()
	if err != nil {
		t.Fatal(err)
	}
	r.mainPID = pid
	return r
}

// pid is the reader's pid now (0 if it does not run), in the container.
func (r *reader) pid() (int, error) {
	p, err := r.m.unitProps(readerUnit, "MainPID")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p["MainPID"])
}

// stop stops the reader and returns everything it logged.
func (r *reader) stop() []sample {
	r.t.Helper()
	if _, err := r.m.run(30*time.Second, "systemctl", "stop", readerUnit); err != nil {
		r.t.Errorf("stopping the reader: %v", err)
	}
	s, err := r.samples()
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// sample is one read the reader made.
type sample struct {
	end      time.Time // when the read returned
	dur      time.Duration
	ok       bool
	memTotal int64  // kB, when ok
	errno    string // when failed, e.g. "ENOTCONN"
	text     string // when failed
}

// start is when the read began.
func (s sample) start() time.Time { return s.end.Add(-s.dur) }

func (s sample) String() string {
	if s.ok {
		return fmt.Sprintf("%s ok (%v) MemTotal %d kB", s.end.Format("15:04:05.000"), s.dur, s.memTotal)
	}
	return fmt.Sprintf("%s fail (%v) %s: %s", s.end.Format("15:04:05.000"), s.dur, s.errno, s.text)
}

// samples parses the reader's log so far (see reader/main.go for the
// format). A last line still being written is ignored.
func (r *reader) samples() ([]sample, error) {
	b, err := os.ReadFile(r.log)
	if err != nil {
		return nil, err
	}
	text := string(b)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		text = ""
	}
	var out []sample
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 5)
		if len(f) < 4 {
			return nil, fmt.Errorf("reader log %s: bad line %q", r.log, line)
		}
		ms, err1 := strconv.ParseInt(f[0], 10, 64)
		us, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("reader log %s: bad line %q", r.log, line)
		}
		s := sample{end: time.UnixMilli(ms), dur: time.Duration(us) * time.Microsecond, ok: f[2] == "ok"}
		if s.ok {
			s.memTotal, _ = strconv.ParseInt(f[3], 10, 64)
		} else {
			s.errno = f[3]
			if len(f) == 5 {
				s.text = f[4]
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// starts counts the reader's start lines: more than one means it was
// restarted.
func (r *reader) starts() int {
	b, _ := os.ReadFile(r.log)
	return strings.Count(string(b), "# reader pid=")
}

// waitFor polls the log until cond holds for the samples, for at most
// timeout; the error names what (what) did not happen and shows the last
// samples.
func (r *reader) waitFor(timeout time.Duration, what string, cond func([]sample) bool) ([]sample, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := r.samples()
		if err == nil && cond(s) {
			return s, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return s, fmt.Errorf("no %s within %v: %v", what, timeout, err)
			}
			return s, fmt.Errorf("no %s within %v; last reads:\n%s", what, timeout, lastSamples(s, 10))
		}
		time.Sleep(readerInterval)
	}
}

// summary describes the reader's reads since t, for failure messages: how
// many, how many failed, and how long ago its last read ended (a read in
// progress since then is blocked).
func (r *reader) summary(t time.Time) string {
	s, err := r.samples()
	if err != nil {
		return err.Error()
	}
	var since []sample
	for _, x := range s {
		if x.end.After(t) {
			since = append(since, x)
		}
	}
	last := "no read at all"
	if len(s) > 0 {
		last = fmt.Sprintf("the last read ended %v ago", time.Since(s[len(s)-1].end).Round(time.Millisecond))
	}
	return fmt.Sprintf("%d reads, %d failed; %s; last reads:\n%s", len(since), len(failures(since, t, time.Now().Add(time.Hour))), last, lastSamples(s, 5))
}

// lastSamples formats the last n samples, one a line.
func lastSamples(s []sample, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	var b strings.Builder
	for _, x := range s {
		b.WriteString("  " + x.String() + "\n")
	}
	return b.String()
}

// okAfter reports whether a read that began after t succeeded, and the
// first such.
func okAfter(s []sample, t time.Time) (sample, bool) {
	for _, x := range s {
		if x.ok && x.start().After(t) {
			return x, true
		}
	}
	return sample{}, false
}

// failures are the failed reads that ended in [from, to).
func failures(s []sample, from, to time.Time) []sample {
	var out []sample
	for _, x := range s {
		if !x.ok && !x.end.Before(from) && x.end.Before(to) {
			out = append(out, x)
		}
	}
	return out
}

// longestGap is the longest time between the ends of two successive
// successful reads, over the pairs whose second read ended in (from, to]:
// with from the moment of a kill, the reader's view of the outage.
func longestGap(s []sample, from, to time.Time) time.Duration {
	var longest time.Duration
	var prev time.Time
	for _, x := range s {
		if !x.ok {
			continue
		}
		if !prev.IsZero() && x.end.After(from) && !x.end.After(to) {
			longest = max(longest, x.end.Sub(prev))
		}
		prev = x.end
	}
	return longest
}

// slowestRead is the longest single read ending in [from, to].
func slowestRead(s []sample, from, to time.Time) time.Duration {
	var d time.Duration
	for _, x := range s {
		if !x.end.Before(from) && !x.end.After(to) {
			d = max(d, x.dur)
		}
	}
	return d
}

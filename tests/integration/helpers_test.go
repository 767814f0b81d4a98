package integration

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

const MiB = 1 << 20

// The files under the mount point.
const (
	meminfo   = "proc/meminfo"
	cpuinfo   = "proc/cpuinfo"
	stat      = "proc/stat"
	uptime    = "proc/uptime"
	swaps     = "proc/swaps"
	loadavg   = "proc/loadavg"
	slabinfo  = "proc/slabinfo"
	diskstats = "proc/diskstats"
	cpuDir    = "sys/devices/system/cpu"
	online    = cpuDir + "/online"
	present   = cpuDir + "/present"
	possible  = cpuDir + "/possible"
	offline   = cpuDir + "/offline"
)

// userHZ is the unit of /proc/<pid>/stat start times and /proc/stat
// (USER_HZ, 100 on every architecture Linux runs containers on).
const userHZ = 100

// newCgroup is testenv.NewCgroup with the default controllers.
func newCgroup(t *testing.T) *testenv.Cgroup {
	t.Helper()
	return testenv.NewCgroup(t, testenv.CgroupOptions{})
}

// setup is what almost every test starts with: skip guards, t.Parallel
// and a daemon started with args.
func setup(t *testing.T, args ...string) *testenv.Daemon {
	t.Helper()
	testenv.RequireMountAndCgroups(t)
	t.Parallel()
	return testenv.StartDaemon(t, args...)
}

// view is what one reader saw: file (relative to the mount) to content.
type view map[string]string

// readAs reads rels through d from one reader process in cg (in the
// test's pid namespace) and fails the test if any read fails.
func readAs(t *testing.T, cg *testenv.Cgroup, d *testenv.Daemon, rels ...string) view {
	t.Helper()
	return readWith(t, cg.Do, d, rels...)
}

// readIn is readAs for a reader inside container ct's pid namespace.
func readIn(t *testing.T, ct *testenv.Container, cg *testenv.Cgroup, d *testenv.Daemon, rels ...string) view {
	t.Helper()
	return readWith(t, func(ops ...testenv.Op) ([]testenv.Result, error) { return ct.Do(cg, ops...) }, d, rels...)
}

func readWith(t *testing.T, do func(...testenv.Op) ([]testenv.Result, error), d *testenv.Daemon, rels ...string) view {
	t.Helper()
	ops := make([]testenv.Op, len(rels))
	for i, rel := range rels {
		ops[i] = testenv.Read(d.Path(rel))
	}
	res, err := do(ops...)
	if err != nil {
		t.Fatal(err)
	}
	v := view{}
	for i, r := range res {
		if err := r.Error(); err != nil {
			t.Fatalf("reading %s: %v", rels[i], err)
		}
		v[rels[i]] = string(r.Data[0])
	}
	return v
}

// hostFile reads a file of the host.
func hostFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// --- meminfo ---

type memLine struct {
	Label string // without the colon
	Value uint64
	KB    bool // value has a " kB" unit
}

type memInfo []memLine

func parseMeminfo(s string) (memInfo, error) {
	var m memInfo
	if !strings.HasSuffix(s, "\n") {
		return nil, fmt.Errorf("meminfo does not end in a newline: %q", s)
	}
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		label, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || len(f) < 1 || len(f) > 2 || (len(f) == 2 && f[1] != "kB") {
			return nil, fmt.Errorf("bad meminfo line %q", line)
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad meminfo line %q: %w", line, err)
		}
		m = append(m, memLine{Label: label, Value: v, KB: len(f) == 2})
	}
	return m, nil
}

func mustMeminfo(t *testing.T, s string) memInfo {
	t.Helper()
	m, err := parseMeminfo(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (m memInfo) labels() []string {
	var l []string
	for _, x := range m {
		l = append(l, x.Label)
	}
	return l
}

func (m memInfo) lookup(label string) (uint64, bool) {
	for _, x := range m {
		if x.Label == label {
			return x.Value, true
		}
	}
	return 0, false
}

// get returns the value of label, failing the test if it is missing.
func (m memInfo) get(t *testing.T, label string) uint64 {
	t.Helper()
	v, ok := m.lookup(label)
	if !ok {
		t.Fatalf("meminfo has no %s line; labels: %v", label, m.labels())
	}
	return v
}

// memTotal parses meminfo and returns MemTotal in kB.
func memTotal(t *testing.T, s string) uint64 {
	t.Helper()
	return mustMeminfo(t, s).get(t, "MemTotal")
}

// --- cpuinfo ---

// cpuBlock is one "processor" block of cpuinfo.
type cpuBlock struct {
	Lines []string          // raw lines, without the newline
	Keys  []string          // keys in order
	Vals  map[string]string // key -> value, both trimmed
}

func parseCPUInfo(s string) []cpuBlock {
	var blocks []cpuBlock
	for _, raw := range strings.Split(strings.TrimRight(s, "\n"), "\n\n") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		b := cpuBlock{Vals: map[string]string{}}
		for _, line := range strings.Split(raw, "\n") {
			k, v, _ := strings.Cut(line, ":")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			b.Lines = append(b.Lines, line)
			b.Keys = append(b.Keys, k)
			b.Vals[k] = v
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// processorLines are the lines starting with "processor".
func processorLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "processor") {
			out = append(out, line)
		}
	}
	return out
}

// hostCPUBlock is the host cpuinfo block of processor n.
func hostCPUBlock(t *testing.T, n int) cpuBlock {
	t.Helper()
	for _, b := range parseCPUInfo(hostFile(t, "/proc/cpuinfo")) {
		if b.Vals["processor"] == strconv.Itoa(n) {
			return b
		}
	}
	t.Fatalf("host /proc/cpuinfo has no processor %d", n)
	return cpuBlock{}
}

// --- stat ---

type statLine struct {
	Name   string
	Fields []string
}

func parseStat(s string) ([]statLine, error) {
	var out []statLine
	if !strings.HasSuffix(s, "\n") {
		return nil, fmt.Errorf("stat does not end in a newline")
	}
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("bad stat line %q", line)
		}
		for _, x := range f[1:] {
			if _, err := strconv.ParseUint(x, 10, 64); err != nil {
				return nil, fmt.Errorf("bad stat line %q: %w", line, err)
			}
		}
		if strings.HasPrefix(f[0], "cpu") && len(f) != 11 {
			return nil, fmt.Errorf("cpu line with %d fields, want 10: %q", len(f)-1, line)
		}
		out = append(out, statLine{Name: f[0], Fields: f[1:]})
	}
	return out, nil
}

func mustStat(t *testing.T, s string) []statLine {
	t.Helper()
	lines, err := parseStat(s)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func statNames(lines []statLine) []string {
	var n []string
	for _, l := range lines {
		n = append(n, l.Name)
	}
	return n
}

// cpuNames are the names of the lines starting with "cpu".
func cpuNames(lines []statLine) []string {
	var n []string
	for _, l := range lines {
		if strings.HasPrefix(l.Name, "cpu") {
			n = append(n, l.Name)
		}
	}
	return n
}

func statLineNamed(t *testing.T, lines []statLine, name string) statLine {
	t.Helper()
	for _, l := range lines {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("stat has no %q line: %v", name, statNames(lines))
	return statLine{}
}

func (l statLine) num(i int) uint64 {
	v, _ := strconv.ParseUint(l.Fields[i], 10, 64)
	return v
}

// --- uptime ---

var uptimeRE = regexp.MustCompile(`^([0-9]+\.[0-9]{2}) ([0-9]+\.[0-9]{2})\n$`)

func parseUptime(s string) (up, idle float64, err error) {
	m := uptimeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("uptime %q does not match %s", s, uptimeRE)
	}
	up, _ = strconv.ParseFloat(m[1], 64)
	idle, _ = strconv.ParseFloat(m[2], 64)
	return up, idle, nil
}

func mustUptime(t *testing.T, s string) (up, idle float64) {
	t.Helper()
	up, idle, err := parseUptime(s)
	if err != nil {
		t.Fatal(err)
	}
	return up, idle
}

// pid1Age is how long host pid 1 has run, in seconds: the uptime a caller
// in the host pid namespace sees (its namespace's init is pid 1).
func pid1Age(t *testing.T) float64 {
	t.Helper()
	host, _ := mustUptime(t, hostFile(t, "/proc/uptime"))
	return host - float64(pid1StartTicks(t))/userHZ
}

// pid1StartTicks is when host pid 1 started, in clock ticks since boot:
// for a caller in the host pid namespace, the boot that uptime and btime
// count from.
func pid1StartTicks(t *testing.T) uint64 {
	t.Helper()
	st := hostFile(t, "/proc/1/stat")
	// Fields after the parenthesised comm; starttime is field 22 overall.
	f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:])
	if len(f) < 20 {
		t.Fatalf("short /proc/1/stat: %q", st)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return start
}

// --- lists ---

// lines splits s into lines without the trailing newline.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// duplicates lists the names that appear more than once.
func duplicates(names []string) []string {
	seen := map[string]int{}
	var dup []string
	for _, n := range names {
		seen[n]++
		if seen[n] == 2 {
			dup = append(dup, n)
		}
	}
	return dup
}

// cpuDirs are the cpuN entries of a directory listing, sorted.
func cpuDirs(names []string) []string {
	re := regexp.MustCompile(`^cpu[0-9]+$`)
	var out []string
	for _, n := range names {
		if re.MatchString(n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// hostOnlineCPUs is the number of CPUs in the host's online list.
func hostCPUList(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(hostFile(t, "/sys/devices/system/cpu/online"))
}

// failureLog collects the failures of concurrent readers: it counts them
// all and keeps the first 20 messages for the report.
type failureLog struct {
	mu   sync.Mutex
	n    int
	msgs []string
}

func (f *failureLog) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.msgs) < 20 {
		f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	}
}

func (f *failureLog) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// report fails t with the kept messages.
func (f *failureLog) report(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.msgs {
		t.Error(m)
	}
}

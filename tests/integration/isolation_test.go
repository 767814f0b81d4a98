package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// isoFiles are every file of the mount the isolation test reads.
var isoFiles = []string{
	meminfo, cpuinfo, stat, uptime, swaps, loadavg, slabinfo, diskstats,
	"proc/pressure/cpu", "proc/pressure/io", "proc/pressure/memory",
	online, present, possible, offline, cpuDir + "/cpu0/online",
}

// isoLimits is what one cgroup of the isolation test must show.
type isoLimits struct {
	name     string
	memKB    uint64
	cpus     string // the cpuset, as online shows it
	nCPUs    int
	cpuLines []string // cpuN lines of stat
}

// check verifies one read of file as a reader of cgroup l saw it.
func (l isoLimits) check(file, s string) error {
	if err := parseAny(file, s); err != nil {
		return err
	}
	switch file {
	case meminfo:
		m, err := parseMeminfo(s)
		if err != nil {
			return err
		}
		if got, _ := m.lookup("MemTotal"); got != l.memKB {
			return fmt.Errorf("MemTotal %d kB, want %d (%s)", got, l.memKB, l.name)
		}
	case cpuinfo:
		if n := len(processorLines(s)); n != l.nCPUs {
			return fmt.Errorf("%d processors, want %d (%s)", n, l.nCPUs, l.name)
		}
	case stat:
		lines, err := parseStat(s)
		if err != nil {
			return err
		}
		if got := strings.Join(cpuNames(lines), ","); got != strings.Join(l.cpuLines, ",") {
			return fmt.Errorf("cpu lines %s, want %s (%s)", got, strings.Join(l.cpuLines, ","), l.name)
		}
	case online, present, possible:
		if got := strings.TrimSpace(s); got != l.cpus {
			return fmt.Errorf("%s is %q, want %q (%s)", file, got, l.cpus, l.name)
		}
	case offline:
		if s != "\n" {
			return fmt.Errorf("offline is %q", s)
		}
	case swaps:
		if !strings.HasPrefix(s, "Filename") {
			return fmt.Errorf("swaps %q", s)
		}
	case loadavg:
		if len(strings.Fields(s)) != 5 {
			return fmt.Errorf("loadavg %q", s)
		}
	case cpuDir + "/cpu0/online":
		if s != "1\n" {
			return fmt.Errorf("cpu0/online %q", s)
		}
	default:
		// slabinfo may be empty. Pressure files never are.
		if s == "" && strings.HasPrefix(file, "proc/pressure/") {
			return fmt.Errorf("%s is empty", file)
		}
	}
	return nil
}

// isolationDuration is LXCFS_GO_ISOLATION_SECONDS (default 10; make soak
// sets 60).
func isolationDuration(t *testing.T) time.Duration {
	if s := os.Getenv("LXCFS_GO_ISOLATION_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("LXCFS_GO_ISOLATION_SECONDS=%q", s)
		}
		return time.Duration(n) * time.Second
	}
	return 10 * time.Second
}

// TestIsolation: 2 x 4 readers in two cgroups with different memory limits
// and CPU sets read every file concurrently, while a ninth reader keeps
// moving itself between the two cgroups. Every read shows the limits of
// the cgroup its reader was in when it read; no read fails.
func TestIsolation(t *testing.T) {
	testenv.RequireCPUs(t, 2)
	d := setup(t)
	dur := isolationDuration(t)

	a := newCgroup(t)
	a.CPUs("0")
	a.MemoryLimit(640 * MiB)
	b := newCgroup(t)
	b.CPUs("0-1")
	b.MemoryLimit(896 * MiB)
	limits := map[*testenv.Cgroup]isoLimits{
		a: {name: "A", memKB: 640 * 1024, cpus: "0", nCPUs: 1, cpuLines: []string{"cpu", "cpu0"}},
		b: {name: "B", memKB: 896 * 1024, cpus: "0-1", nCPUs: 2, cpuLines: []string{"cpu", "cpu0", "cpu1"}},
	}

	deadline := time.Now().Add(dur)
	var reads atomic.Int64
	var failures failureLog
	fail := failures.add

	var wg sync.WaitGroup
	for _, cg := range []*testenv.Cgroup{a, b} {
		l := limits[cg]
		for r := range 4 {
			wg.Go(func() {
				ops := make([]testenv.Op, len(isoFiles))
				for i, f := range isoFiles {
					ops[i] = testenv.Op{Kind: testenv.OpRead, Path: d.Path(f), Count: 4}
				}
				for time.Now().Before(deadline) {
					res, err := cg.Do(ops...)
					if err != nil {
						fail("reader %s%d: %v", l.name, r, err)
						return
					}
					for i, rr := range res {
						if err := rr.Error(); err != nil {
							fail("reader %s%d: %s: %v", l.name, r, isoFiles[i], err)
							continue
						}
						for _, data := range rr.Data {
							reads.Add(1)
							if err := l.check(isoFiles[i], string(data)); err != nil {
								fail("reader %s%d: %s: %v", l.name, r, isoFiles[i], err)
							}
						}
					}
				}
			})
		}
	}
	wg.Go(func() {
		for time.Now().Before(deadline) {
			n, err := moveAndRead(a, b, d, limits, 10)
			reads.Add(int64(n))
			if err != nil {
				fail("moving reader: %v", err)
				return
			}
		}
	})
	wg.Wait()

	t.Logf("%d reads in %v, %d failures", reads.Load(), dur, failures.count())
	failures.report(t)
	if reads.Load() == 0 {
		t.Error("no reads")
	}
	if d.Exited() {
		t.Fatalf("daemon exited: %v\n%s", d.ExitErr(), d.Stderr())
	}
	if s := d.Stderr(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic") {
		t.Errorf("daemon stderr:\n%s", s)
	}
}

// moveScript moves the shell between cgroups A and B ($1 rounds): it
// writes its own pid into each cgroup.procs of the target, then reads
// meminfo, online and cpuinfo with cat, which it forks there, each section
// tagged with the cgroup it ran in.
const moveScript = `rounds=$1 mnt=$2 a=$3 b=$4
i=0
while [ $i -lt $rounds ]; do
	for w in A B; do
		if [ $w = A ]; then files=$a; else files=$b; fi
		for f in $files; do echo $$ > "$f" || exit 125; done
		for rel in proc/meminfo sys/devices/system/cpu/online proc/cpuinfo proc/stat; do
			echo "@@ $w $rel"
			cat "$mnt/$rel" || exit 1
		done
	done
	i=$((i+1))
done
echo "@@ end"`

// moveAndRead runs one moving reader for rounds round trips and checks
// every section against the cgroup it was read in.
func moveAndRead(a, b *testenv.Cgroup, d *testenv.Daemon, limits map[*testenv.Cgroup]isoLimits, rounds int) (int, error) {
	out, stderr, err := a.Run("sh", "-c", moveScript, "sh", strconv.Itoa(rounds), d.Mnt,
		strings.Join(a.ProcsFiles(), " "), strings.Join(b.ProcsFiles(), " "))
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, stderr)
	}
	byName := map[string]isoLimits{"A": limits[a], "B": limits[b]}
	sections := strings.Split(out, "@@ ")
	if len(sections) < 2 || strings.TrimSpace(sections[len(sections)-1]) != "end" {
		return 0, fmt.Errorf("output cut short: %q", out[max(0, len(out)-200):])
	}
	n := 0
	for _, sec := range sections[1 : len(sections)-1] {
		head, body, _ := strings.Cut(sec, "\n")
		w, rel, _ := strings.Cut(head, " ")
		l, ok := byName[w]
		if !ok {
			return n, fmt.Errorf("bad section header %q", head)
		}
		n++
		if err := l.check(rel, body); err != nil {
			return n, fmt.Errorf("read in %s: %s: %v", l.name, rel, err)
		}
	}
	if n != rounds*2*4 {
		return n, fmt.Errorf("%d sections, want %d", n, rounds*2*4)
	}
	return n, nil
}

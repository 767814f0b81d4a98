package integration

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// A container's cgroup values are shared by its readers for --snapshot-ttl
// (issue 18). Readers in a container resolve to its init, so every process
// in it shares one snapshot.

// With a ttl far longer than the test, a limit change stays unseen by the
// container's next reader (another process): the values are shared. With
// the ttl off, the next read shows it.
func TestSnapshotTTLFlag(t *testing.T) {
	for _, tc := range []struct {
		ttl  string
		want uint64 // MemTotal after the change, kB
	}{
		{"1h", 256 * 1024},
		{"0", 128 * 1024},
	} {
		t.Run("ttl "+tc.ttl, func(t *testing.T) {
			read := limitHalved(t, "--snapshot-ttl="+tc.ttl)
			if got := read(); got != tc.want {
				t.Errorf("after the change: MemTotal %d kB, want %d", got, tc.want)
			}
		})
	}
}

// limitHalved starts a daemon with args and a container limited to 256
// MiB, reads its meminfo from a process in it, and lowers the limit to 128
// MiB. It returns what the next reader in the container reads as
// MemTotal, in kB.
func limitHalved(t *testing.T, args ...string) func() uint64 {
	t.Helper()
	d := setup(t, args...)
	ct := newCgroup(t)
	ct.MemoryLimit(256 * MiB)
	ns := testenv.StartContainer(t, ct, testenv.ContainerOptions{})
	read := func() uint64 { return memTotal(t, readIn(t, ns, ct, d, meminfo)[meminfo]) }
	if got := read(); got != 256*1024 {
		t.Fatalf("MemTotal %d kB, want %d", got, 256*1024)
	}
	ct.MemoryLimit(128 * MiB)
	return read
}

// With the default ttl (100 ms), a limit change shows soon after: the
// bound checked is a generous one for a loaded machine; the 100 ms are
// checked by content's tests on an injected clock.
func TestSnapshotLimitChange(t *testing.T) {
	read := limitHalved(t)
	changed := time.Now()
	for reads := 1; ; reads++ {
		got := read()
		if got == 128*1024 {
			t.Logf("the change showed at read %d, %v after it", reads, time.Since(changed))
			return
		}
		if got != 256*1024 {
			t.Fatalf("MemTotal %d kB, want the old or the new limit", got)
		}
		if time.Since(changed) > 2*time.Second {
			t.Fatalf("the change has not shown after %d reads in %v", reads, time.Since(changed))
		}
	}
}

// 8 readers in one container read every file that comes from a snapshot,
// all at once, while its memory limit flips between 1 GiB and 768 MiB
// (well above what the readers use: a v1 limit below the usage fails with
// EBUSY): every copy is whole and shows one of the two limits. Run with -race: the daemon is then built with
// -race, and a renderer that changed the shared snapshot fails it.
func TestSnapshotConcurrentReaders(t *testing.T) {
	const readers, reads = 8, 50
	d := setup(t)
	ct := newCgroup(t)
	ct.MemoryLimit(1024 * MiB)
	ns := testenv.StartContainer(t, ct, testenv.ContainerOptions{})
	hostLabels := len(mustMeminfo(t, hostFile(t, "/proc/meminfo")).labels())
	limitFile := ct.Path("memory") + "/memory.limit_in_bytes"
	if ct.V2("memory") {
		limitFile = ct.Path("memory") + "/memory.max"
	}

	stop := make(chan struct{})
	type flips struct {
		n   int
		err error
	}
	flipped := make(chan flips)
	go func() {
		var f flips
		defer func() { flipped <- f }()
		for limit := 768 * MiB; ; limit = 1792*MiB - limit {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if f.err = os.WriteFile(limitFile, []byte(strconv.Itoa(limit)), 0o644); f.err != nil {
				return
			}
			f.n++
		}
	}()
	files := []string{meminfo, stat, diskstats, uptime, cpuinfo}
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			ops := make([]testenv.Op, len(files))
			for i, f := range files {
				ops[i] = testenv.Op{Kind: testenv.OpRead, Path: d.Path(f), Count: reads}
			}
			res, err := ns.Do(ct, ops...)
			if err != nil {
				errs[r] = err
				return
			}
			errs[r] = checkSnapshotReads(res, hostLabels)
		})
	}
	wg.Wait()
	close(stop)
	f := <-flipped
	if f.err != nil {
		t.Fatalf("changing the limit: %v", f.err)
	}
	t.Logf("the limit changed %d times during the reads", f.n)
	for r, err := range errs {
		if err != nil {
			t.Errorf("reader %d: %v", r, err)
		}
	}
	if d.Exited() {
		t.Errorf("daemon exited: %v", d.ExitErr())
	}
}

// checkSnapshotReads checks the copies one reader got of meminfo, stat,
// diskstats, uptime and cpuinfo (in that order).
func checkSnapshotReads(res []testenv.Result, hostLabels int) error {
	for _, r := range res {
		if err := r.Error(); err != nil {
			return fmt.Errorf("%s: %w", r.Op.Path, err)
		}
	}
	for k, data := range res[0].Data {
		m, err := parseMeminfo(string(data))
		if err != nil {
			return fmt.Errorf("meminfo %d: %w", k, err)
		}
		total, _ := m.lookup("MemTotal")
		free, _ := m.lookup("MemFree")
		if total != 1024*1024 && total != 768*1024 || free > total || len(m) != hostLabels {
			return fmt.Errorf("meminfo %d: MemTotal %d kB, MemFree %d kB, %d lines (host %d)", k, total, free, len(m), hostLabels)
		}
	}
	for k, data := range res[1].Data {
		lines, err := parseStat(string(data))
		if err != nil {
			return fmt.Errorf("stat %d: %w", k, err)
		}
		for _, l := range lines {
			// The reader itself runs: never 0, however shared the count.
			if l.Name == "procs_running" && l.num(0) == 0 {
				return fmt.Errorf("stat %d: procs_running 0:\n%s", k, data)
			}
		}
	}
	for i, name := range []string{"diskstats", "uptime", "cpuinfo"} {
		for k, data := range res[2+i].Data {
			if len(data) == 0 {
				return fmt.Errorf("%s %d: empty", name, k)
			}
		}
	}
	return nil
}

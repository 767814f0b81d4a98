package integration

import (
	"sync"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestVanishedCaller: readers that exit right after open, or while their
// reads are in flight, do not break the daemon: later reads still work.
func TestVanishedCaller(t *testing.T) {
	d := setup(t)
	cg := newCgroup(t)
	// Room for 4 concurrent readers built with -race (~40 MB each).
	cg.MemoryLimit(1024 * MiB)

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5 {
				file := []string{meminfo, cpuinfo, stat, uptime}[(w+i)%4]
				// Open, then exit without reading.
				if _, stderr, err := cg.Run("sh", "-c", `exec 3<"$1"; exit 0`, "sh", d.Path(file)); err != nil {
					t.Errorf("open-and-exit reader: %v: %s", err, stderr)
				}
				// Start 8 reads on other threads, then exit at once.
				if _, err := cg.Do(testenv.Op{Kind: testenv.OpVanish, Path: d.Path(file), Count: 8}); err != nil {
					t.Errorf("vanishing reader: %v", err)
				}
			}
		})
	}
	wg.Wait()

	if d.Exited() {
		t.Fatalf("daemon exited: %v", d.ExitErr())
	}
	v := readAs(t, cg, d, meminfo, cpuinfo, stat, uptime)
	if got := memTotal(t, v[meminfo]); got != 1048576 {
		t.Errorf("after vanished callers: MemTotal = %d kB, want 1048576", got)
	}
	mustStat(t, v[stat])
	mustUptime(t, v[uptime])
	if len(processorLines(v[cpuinfo])) == 0 {
		t.Errorf("after vanished callers: cpuinfo has no processor: %q", v[cpuinfo])
	}
}

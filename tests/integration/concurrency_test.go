package integration

import (
	"fmt"
	"sync"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// TestConcurrentReaders: 8 readers in 8 cgroups with 8 memory limits read
// meminfo 200 times each, all at once; every copy shows its reader's
// limit. Run with -race: the daemon is then built with -race too and any
// race it reports fails the test.
func TestConcurrentReaders(t *testing.T) {
	const readers, reads = 8, 200
	d := setup(t)
	hostLabels := mustMeminfo(t, hostFile(t, "/proc/meminfo")).labels()

	cgs := make([]*testenv.Cgroup, readers)
	for i := range cgs {
		cgs[i] = newCgroup(t)
		cgs[i].MemoryLimit(int64(128+32*i) * MiB)
	}
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i, cg := range cgs {
		wg.Go(func() {
			errs[i] = readRepeatedly(cg, d, reads, uint64(128+32*i)*1024, len(hostLabels))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("reader %d (%d MiB): %v", i, 128+32*i, err)
		}
	}
	if d.Exited() {
		t.Errorf("daemon exited: %v", d.ExitErr())
	}
}

func readRepeatedly(cg *testenv.Cgroup, d *testenv.Daemon, n int, wantKB uint64, nLabels int) error {
	res, err := cg.Do(testenv.Op{Kind: testenv.OpRead, Path: d.Path(meminfo), Count: n})
	if err != nil {
		return err
	}
	if err := res[0].Error(); err != nil {
		return err
	}
	if len(res[0].Data) != n {
		return fmt.Errorf("%d reads, want %d", len(res[0].Data), n)
	}
	for k, data := range res[0].Data {
		m, err := parseMeminfo(string(data))
		if err != nil {
			return fmt.Errorf("read %d: %w", k, err)
		}
		if got, _ := m.lookup("MemTotal"); got != wantKB {
			return fmt.Errorf("read %d: MemTotal %d kB, want %d", k, got, wantKB)
		}
		if len(m) != nLabels {
			return fmt.Errorf("read %d: %d lines, the host has %d", k, len(m), nLabels)
		}
	}
	return nil
}

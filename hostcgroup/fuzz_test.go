package hostcgroup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// The fuzz targets check that no parser of kernel text panics and that every
// error wraps ErrParse. Run one with, e.g.,
//
//	go test -run '^$' -fuzz FuzzDetectLayout ./hostcgroup

// seedFiles adds every fixture file with the given base name as a seed.
func seedFiles(f *testing.F, base string) {
	matches, _ := filepath.Glob("testdata/*/sys/fs/cgroup/*/" + base)
	more, _ := filepath.Glob("testdata/*/sys/fs/cgroup/*/*/" + base)
	more2, _ := filepath.Glob("testdata/*/sys/fs/cgroup/*/*/*/" + base)
	for _, m := range append(append(matches, more...), more2...) {
		if b, err := os.ReadFile(m); err == nil {
			f.Add(b)
		}
	}
}

func checkParseErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrParse) {
		t.Fatalf("error %v does not wrap ErrParse", err)
	}
}

func FuzzDetectLayout(f *testing.F) {
	for _, fx := range []string{"v1", "hybrid", "v2", "no-memory", "no-limit", "broken"} {
		if b, err := os.ReadFile("testdata/" + fx + "/proc/self/mountinfo"); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`70 21 0:26 /a\040b /m\134 rw - cgroup  rw,memory`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := hostfs.ParseMountinfo(bytes.NewReader(b))
		checkParseErr(t, err)
		if err == nil {
			_, err := DetectLayout(ms, func(string) ([]string, error) { return []string{"memory"}, nil })
			if err != nil && !errors.Is(err, ErrNoController) {
				t.Fatalf("DetectLayout: %v", err)
			}
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	f.Add([]byte("9:name=systemd:/init.scope\n2:cpu,cpuacct:/lxc/c1\n0::/x (deleted)\n"))
	f.Add([]byte("0::/a:b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseProcCgroup(bytes.NewReader(b))
		checkParseErr(t, err)
		for _, m := range ms {
			if !strings.HasPrefix(m.Path, "/") {
				t.Fatalf("path %q is not absolute", m.Path)
			}
			_ = pruneInitScope(m.Path)
			_, _ = relativeTo(m.Path, "/lxc")
		}
	})
}

func FuzzParseMemoryStat(f *testing.F) {
	seedFiles(f, "memory.stat")
	f.Add([]byte("total_cache 1\n\n  file  2 \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseMemoryStatV1(b)
		checkParseErr(t, err)
		_, err = ParseMemoryStatV2(b)
		checkParseErr(t, err)
	})
}

func FuzzParseCPUUsage(f *testing.F) {
	seedFiles(f, "cpuacct.usage_all")
	seedFiles(f, "cpuacct.usage_percpu")
	seedFiles(f, "cpu.stat")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (*CPUUsage, error){ParseCPUAcctUsageAll, ParseCPUAcctUsagePercpu, ParseCPUStat} {
			u, err := parse(b)
			checkParseErr(t, err)
			if err == nil && u == nil {
				t.Fatal("nil usage without error")
			}
			if u != nil && len(u.PerCPU) > maxCPUs {
				t.Fatalf("%d per-cpu entries", len(u.PerCPU))
			}
		}
	})
}

func FuzzParseValues(f *testing.F) {
	seedFiles(f, "cpu.max")
	seedFiles(f, "memory.max")
	seedFiles(f, "memory.limit_in_bytes")
	seedFiles(f, "cpu.cfs_quota_us")
	f.Add([]byte("-1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLimit(b)
		checkParseErr(t, err)
		if err == nil && !l.Unlimited && l.Value >= unlimitedFrom {
			t.Fatalf("finite limit %d above the unlimited threshold", l.Value)
		}
		_, p, err := ParseCPUMax(b)
		checkParseErr(t, err)
		if err == nil && p == 0 {
			t.Fatal("zero period without error")
		}
	})
}

func FuzzParseCPUSet(f *testing.F) {
	for _, s := range []string{"0-3", "1,2", "1-3,5", "", "\n", "0,2-4,7", "3-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseCPUSet(s)
		checkParseErr(t, err)
		if err != nil {
			return
		}
		again, err := ParseCPUSet(set.String())
		if err != nil || !again.Equal(set) {
			t.Fatalf("%q: String() %q does not parse back: %v", s, set.String(), err)
		}
	})
}

func FuzzParseTaskIO(f *testing.F) {
	f.Add([]byte(ioFile("4096", "8192", "512")))
	f.Add([]byte("read_bytes:1\nwrite_bytes:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, err := ParseTaskIO(b)
		checkParseErr(t, err)
	})
}

package fs

import (
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the text fs parses: cpuN names looked up in the sys
// tree. (daemon fuzzes lxcfs -o option lists.)

func FuzzCPUNumber(f *testing.F) {
	for _, s := range []string{"cpu0", "cpu15", "cpu", "cpu-1", "cpu01", "cpu99999999999999999999", "cpufreq"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, ok := cpuNumber(name)
		if !ok {
			return
		}
		if n < 0 || !strings.HasPrefix(name, "cpu") {
			t.Fatalf("%q: cpu %d", name, n)
		}
		if m, err := strconv.Atoi(name[3:]); err != nil || m != n {
			t.Fatalf("%q: cpu %d", name, n)
		}
	})
}

package fs

import (
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the text fs parses: lxcfs -o option lists, the octal
// escapes of mountinfo paths, and cpuN names looked up in the sys tree.

func FuzzParseMountOptions(f *testing.F) {
	f.Add("allow_other,ro,noexec")
	f.Add("fsname=x,subtype=y,max_read=4096,default_permissions")
	f.Add("entry_timeout=1,,=,rw,bogus")
	f.Fuzz(func(t *testing.T, opts string) {
		a, err := parseMountOptions(strings.Split(opts, ","))
		if err != nil {
			return
		}
		if a.fstype == "" {
			t.Fatalf("%q: empty fstype", opts)
		}
		for _, d := range a.data {
			if strings.ContainsRune(d, ',') {
				t.Fatalf("%q: data option %q holds a comma", opts, d)
			}
		}
	})
}

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

package vfiles

import (
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRowsAreATable(t *testing.T) {
	t.Parallel()
	seen := map[File]bool{}
	paths := map[string]bool{}
	nodes := map[uint64]string{}
	for _, r := range Rows() {
		if r.File < 0 || r.File >= Count || seen[r.File] {
			t.Errorf("%s: key %d out of range or twice", r.Path, r.File)
		}
		seen[r.File] = true
		if paths[r.Path] || r.Path != path.Clean(r.Path) || strings.HasPrefix(r.Path, "/") {
			t.Errorf("%q: twice, or not a clean relative path", r.Path)
		}
		paths[r.Path] = true
		if r.Host != "" && !strings.HasPrefix(r.Host, "/proc/") && !strings.HasPrefix(r.Host, "/sys/") {
			t.Errorf("%s: host file %q is on neither procfs nor sysfs", r.Path, r.Host)
		}
		if r.SingleRecord && r.Host == "" {
			t.Errorf("%s: single record without a host file", r.Path)
		}
		// Node IDs: one per file, none in the mirrored cpu directory.
		inCPUDir := strings.HasPrefix(r.Path, CPUDir+"/")
		if (r.Node == 0) != inCPUDir {
			t.Errorf("%s: node ID %d (only the files of %s derive theirs from the path)", r.Path, r.Node, CPUDir)
		}
		if other, dup := nodes[r.Node]; dup && r.Node != 0 {
			t.Errorf("%s and %s share node ID %d", r.Path, other, r.Node)
		}
		nodes[r.Node] = r.Path
		// Bind is the file or a directory above it.
		if r.Bind != r.Path && !strings.HasPrefix(r.Path, r.Bind+"/") {
			t.Errorf("%s: binds %q, which does not hold it", r.Path, r.Bind)
		}
		if got := r.File.Row(); got != r {
			t.Errorf("%v.Row() = %+v, want %+v", r.File, got, r)
		}
	}
	if len(seen) != int(Count) {
		t.Errorf("%d rows for %d files", len(seen), Count)
	}
}

// TestNames: the hand-over state names files by String and `show --list`
// prints them in key order; both outlive one binary.
func TestNames(t *testing.T) {
	t.Parallel()
	var got []string
	for _, f := range Files() {
		got = append(got, f.String()+" "+f.MountPath())
	}
	want := []string{
		"meminfo proc/meminfo", "cpuinfo proc/cpuinfo", "stat proc/stat", "uptime proc/uptime",
		"swaps proc/swaps", "slabinfo proc/slabinfo", "loadavg proc/loadavg", "diskstats proc/diskstats",
		"pressure/cpu proc/pressure/cpu", "pressure/io proc/pressure/io", "pressure/memory proc/pressure/memory",
		"online sys/devices/system/cpu/online", "present sys/devices/system/cpu/present",
		"possible sys/devices/system/cpu/possible", "offline sys/devices/system/cpu/offline",
		"cpuN/online sys/devices/system/cpu/cpuN/online",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if s := Count.String(); s != "File(16)" {
		t.Errorf("Count.String() = %q", s)
	}
	if p := File(-1).MountPath(); p != "" {
		t.Errorf("File(-1).MountPath() = %q", p)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]File{
		"proc/meminfo":                          Meminfo,
		"proc/pressure/io":                      PressureIO,
		"sys/devices/system/cpu/offline":        CPUOffline,
		"sys/devices/system/cpu/cpu0/online":    CPUNOnline,
		"sys/devices/system/cpu/cpu4095/online": CPUNOnline,
		"sys/devices/system/cpu/cpuN/online":    CPUNOnline, // the pattern names itself
	} {
		if got, ok := Lookup(p); !ok || got != want {
			t.Errorf("Lookup(%q) = %v, %v; want %v", p, got, ok, want)
		}
	}
	for _, p := range []string{
		"", "proc", "proc/pressure", "meminfo", "/proc/meminfo", "sys/devices/system/cpu",
		"sys/devices/system/cpu/cpu/online", "sys/devices/system/cpu/cpux/online",
		"sys/devices/system/cpu/cpu-1/online", "sys/devices/system/cpu/cpu1/online/x",
		"sys/devices/system/cpu/cpu1/topology/online", "sys/devices/system/node/online",
	} {
		if f, ok := Lookup(p); ok {
			t.Errorf("Lookup(%q) = %v", p, f)
		}
	}
}

func TestChildren(t *testing.T) {
	t.Parallel()
	for dir, want := range map[string][]string{
		CPUDir:                   {"online", "possible", "present", "offline"},
		CPUDir + "/cpu7":         {"online"},
		CPUDir + "/cpu7/cpufreq": nil,
		CPUDir + "/vulnerable":   nil,
		"proc/pressure":          {"cpu", "io", "memory"},
		"proc":                   {"cpuinfo", "meminfo", "stat", "uptime", "diskstats", "swaps", "loadavg", "slabinfo"},
	} {
		if got := Children(dir); !slices.Equal(got, want) {
			t.Errorf("Children(%q) = %v, want %v", dir, got, want)
		}
	}
}

func TestBinds(t *testing.T) {
	t.Parallel()
	want := []string{
		"proc/cpuinfo", "proc/diskstats", "proc/loadavg", "proc/meminfo", "proc/slabinfo",
		"proc/stat", "proc/swaps", "proc/uptime", "sys/devices/system/cpu",
	}
	if diff := cmp.Diff(want, Bound()); diff != "" {
		t.Errorf("Bound (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"proc/pressure/cpu", "proc/pressure/io", "proc/pressure/memory"}, OptIn()); diff != "" {
		t.Errorf("OptIn (-want +got):\n%s", diff)
	}
	for p, want := range map[string]bool{
		"proc/meminfo": true, "proc": true, "proc/pressure": false, "proc/pressure/io": false,
		"proc/nosuch": true, CPUDir: true,
	} {
		if got := BoundByDefault(p); got != want {
			t.Errorf("BoundByDefault(%q) = %v", p, got)
		}
	}
}

func TestPressureAndSingleRecord(t *testing.T) {
	t.Parallel()
	for _, f := range Files() {
		want := f == PressureCPU || f == PressureIO || f == PressureMemory
		if f.Pressure() != want {
			t.Errorf("%v.Pressure() = %v", f, !want)
		}
	}
	for base, want := range map[string]bool{
		"meminfo": true, "stat": true, "uptime": true, "loadavg": true, "cpu": true, "io": true, "memory": true,
		"online": true, "present": true, "possible": true, "offline": true,
		"cpuinfo": false, "swaps": false, "diskstats": false, "slabinfo": false, "": false,
	} {
		if got := SingleRecord(base); got != want {
			t.Errorf("SingleRecord(%q) = %v", base, got)
		}
	}
}

package content

import (
	"testing"

	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

func TestParseFile(t *testing.T) {
	for name, want := range map[string]vfiles.File{
		"meminfo": vfiles.Meminfo, "proc/meminfo": vfiles.Meminfo, "/proc/meminfo": vfiles.Meminfo,
		"pressure/io": vfiles.PressureIO, "/proc/pressure/io": vfiles.PressureIO,
		"online": vfiles.CPUOnline, "sys/devices/system/cpu/online": vfiles.CPUOnline, "cpu/present": vfiles.CPUPresent,
		"/sys/devices/system/cpu/cpu3/online": vfiles.CPUNOnline, "cpu12/online": vfiles.CPUNOnline,
		"offline": vfiles.CPUOffline,
	} {
		if got, ok := ParseFile(name); !ok || got != want {
			t.Errorf("ParseFile(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"", "nosuch", "cpux/online", "proc/cpu3/online", "../meminfo/x"} {
		if f, ok := ParseFile(name); ok {
			t.Errorf("ParseFile(%q) = %v", name, f)
		}
	}
	for _, f := range Files() {
		if got, ok := ParseFile(f.MountPath()); !ok || got != f {
			t.Errorf("%v: MountPath %q parses as %v, %v", f, f.MountPath(), got, ok)
		}
		if got, ok := ParseFile(f.String()); !ok || got != f {
			t.Errorf("%v: name %q parses as %v, %v", f, f.String(), got, ok)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	for _, s := range []string{"meminfo", "/sys/devices/system/cpu/cpu7/online", "cpu/online", "//proc/../proc/stat"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, ok := ParseFile(name); ok && (got < 0 || got >= vfiles.Count) {
			t.Fatalf("ParseFile(%q) = %d", name, got)
		}
	})
}

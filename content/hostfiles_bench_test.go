package content

import (
	"os"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// BenchmarkRenderSelf is the whole read path of one virtual file for the
// test process as caller: Resolve (ContainerInit, Cgroups), Snapshot, host
// file, renderer. make bench-read measures the same through FUSE.
func BenchmarkRenderSelf(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Skip(err)
	}
	for _, f := range []struct {
		name string
		file vfiles.File
	}{{"meminfo", vfiles.Meminfo}, {"cpuinfo", vfiles.CPUInfo}, {"stat", vfiles.Stat}, {"uptime", vfiles.Uptime}, {"loadavg", vfiles.Loadavg}, {"online", vfiles.CPUOnline}} {
		b.Run(f.name, func(b *testing.B) {
			buf := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = s.Render(buf[:0], f.file, os.Getpid()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadHost(b *testing.B) {
	h := hostfs.New(hostfs.Options{})
	s := &Source{hostFS: h, opts: Options{ProcFS: h.ProcFS(), SysFS: h.SysFS()}}
	files := map[string]vfiles.File{"/proc/meminfo": vfiles.Meminfo, "/proc/stat": vfiles.Stat, "/proc/cpuinfo": vfiles.CPUInfo, "/sys/devices/system/cpu/online": vfiles.CPUOnline}
	for _, name := range []string{"/proc/meminfo", "/proc/stat", "/proc/cpuinfo", "/sys/devices/system/cpu/online"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.readHost(files[name]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/os.ReadFile", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := os.ReadFile(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package hostcgroup

import (
	"os"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

func BenchmarkSnapshotHybridFixture(b *testing.B) {
	v, err := New(Options{ProcFS: "testdata/hybrid/proc", MountPrefix: "testdata/hybrid"})
	if err != nil {
		b.Fatal(err)
	}
	cg, err := v.Cgroups(3000)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s := v.Snapshot(cg, WantMemory|WantCPU|WantUsage); s.Memory == nil || s.CPU == nil || s.Usage == nil {
			b.Fatal("incomplete snapshot")
		}
	}
}

func BenchmarkCgroupsSelf(b *testing.B) {
	v, err := New(Options{})
	if err != nil {
		b.Skip("no usable /proc:", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Cgroups(os.Getpid()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContainerInitSelf(b *testing.B) {
	v, err := New(Options{})
	if err != nil {
		b.Skip("no usable /proc:", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.ContainerInit(os.Getpid()); err != nil {
			b.Fatal(err)
		}
	}
}

// The caller-to-snapshot path on the real host, for the test process
// itself (make bench-read measures it through FUSE).

func realView(b *testing.B) *View {
	v, err := New(Options{})
	if err != nil {
		b.Skip("no usable /proc:", err)
	}
	return v
}

func BenchmarkSnapshotSelfMemory(b *testing.B) {
	v := realView(b)
	cg, err := v.Cgroups(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v.Snapshot(cg, WantMemory)
	}
}

func BenchmarkSnapshotSelfCPUUsage(b *testing.B) {
	v := realView(b)
	cg, err := v.Cgroups(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v.Snapshot(cg, WantCPU|WantUsage)
	}
}

// BenchmarkResolveSelf is what every READ at offset 0 does before the
// snapshot: ContainerInit, then Cgroups of the process found.
func BenchmarkResolveSelf(b *testing.B) {
	v := realView(b)
	b.ReportAllocs()
	for b.Loop() {
		ref, _, err := v.ContainerInit(os.Getpid())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Cgroups(ref.PID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadSmallKept(b *testing.B) {
	h := hostfs.New(hostfs.Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.ReadFile("/proc/self/stat"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadSmallOSReadFile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := os.ReadFile("/proc/self/stat"); err != nil {
			b.Fatal(err)
		}
	}
}

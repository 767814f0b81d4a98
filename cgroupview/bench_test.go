package cgroupview

import (
	"os"
	"testing"
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

package fs

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// withURing sets enable_uring to v for the test and puts back the value it
// found, whatever happens. It skips where the kernel has no such knob.
func withURing(t *testing.T, v string) {
	t.Helper()
	testenv.RequireMountAndCgroups(t)
	b, err := os.ReadFile(URingParam)
	if err != nil {
		t.Skipf("no FUSE over io_uring here: %v", err)
	}
	old := strings.TrimSpace(string(b))
	if err := SetURingParam(v); err != nil {
		t.Skipf("cannot set enable_uring: %v", err)
	}
	t.Cleanup(func() {
		if err := SetURingParam(old); err != nil {
			t.Errorf("restoring enable_uring=%s: %v", old, err)
		}
	})
}

// TestRingServes: with enable_uring=Y the connection opts in at INIT and
// reads, listings and lookups are answered through the rings, from several
// threads at once.
func TestRingServes(t *testing.T) {
	withURing(t, "Y")
	c := &fakeContent{}
	mnt, srv := mountWith(t, New(Options{Content: c, SysFS: fakeSys(t)}), ServerOptions{})
	if tr, why := srv.Transport(); tr != "io_uring" {
		t.Fatalf("transport %s (%s), want io_uring", tr, why)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if err := rawRead(filepath.Join(mnt, "proc/meminfo")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(mnt, "proc/meminfo"))
	if err != nil || !strings.Contains(string(b), "line 39 of a file") {
		t.Fatalf("meminfo: %v %q", err, b)
	}
	ents, err := os.ReadDir(filepath.Join(mnt, "sys/devices/system/cpu"))
	if err != nil || len(ents) == 0 {
		t.Fatalf("listing: %v %v", err, ents)
	}
	if n := srv.RingRequests(); n < 400 {
		t.Errorf("%d requests through rings, want at least 400", n)
	}
}

// TestRingOff: --fuse-uring=off keeps the classic loop even where rings
// are permitted, and says so.
func TestRingOff(t *testing.T) {
	withURing(t, "Y")
	mnt, srv := mountWith(t, New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)}), ServerOptions{URing: URingOff})
	if tr, why := srv.Transport(); tr != "classic" || !strings.Contains(why, "--fuse-uring=off") {
		t.Fatalf("transport %s (%s)", tr, why)
	}
	if err := rawRead(filepath.Join(mnt, "proc/meminfo")); err != nil {
		t.Fatal(err)
	}
	if n := srv.RingRequests(); n != 0 {
		t.Errorf("%d requests through rings", n)
	}
}

// TestRingUnavailable: with enable_uring=N, auto serves classic and says
// why; on fails with a clear error (daemon's TestMountFailureUnmounts: and
// leaves nothing mounted).
func TestRingUnavailable(t *testing.T) {
	withURing(t, "N")
	_, srv := mountWith(t, New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)}), ServerOptions{})
	if tr, why := srv.Transport(); tr != "classic" || !strings.Contains(why, "enable_uring is N") {
		t.Fatalf("transport %s (%s)", tr, why)
	}
	mnt := t.TempDir()
	_, err := testMount(mnt, New(Options{Content: &fakeContent{}, SysFS: fakeSys(t)}), ServerOptions{URing: URingOn})
	if err == nil || !strings.Contains(err.Error(), "enable_uring is N") {
		t.Fatalf("--fuse-uring=on with enable_uring=N: %v", err)
	}
}

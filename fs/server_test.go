package fs

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// blockingContent renders meminfo only once released, every other file at
// once.
type blockingContent struct {
	fakeContent
	entered chan struct{}
	release chan struct{}
}

func (b *blockingContent) Render(dst []byte, file vfiles.File, tid int) ([]byte, error) {
	if file == vfiles.Meminfo {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.fakeContent.Render(dst, file, tid)
}

// rawRead reads a file with plain system calls (no Go poller: a FUSE file
// added to epoll would make the kernel send POLL).
func rawRead(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil || n == 0 {
			return err
		}
	}
}

// TestSlowRequestsHoldUpNothing: requests whose handling blocks (more of
// them than readers waiting at start) do not keep other requests waiting:
// readers are added as the waiting ones are taken. This is the classic
// loop's property: on rings a READ is served inline by its CPU's thread, and
// only the operations that may block (mayBlock) leave it.
func TestSlowRequestsHoldUpNothing(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	stuck := int(maxReaders) - 1
	c := &blockingContent{entered: make(chan struct{}, stuck), release: make(chan struct{})}
	mnt, srv := mountWith(t, New(Options{Content: c, SysFS: fakeSys(t)}), ServerOptions{URing: URingOff})
	// Cleanups run last first: the stuck reads end before the unmount.
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(c.release)
		wg.Wait()
	})
	for range stuck {
		wg.Go(func() { rawRead(filepath.Join(mnt, "proc/meminfo")) })
	}
	for i := range stuck {
		select {
		case <-c.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d slow reads reached the server", i, stuck)
		}
	}
	done := make(chan error, 1)
	go func() { done <- rawRead(filepath.Join(mnt, "proc/uptime")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("uptime: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a read of uptime waited behind %d slow meminfo reads", stuck)
	}
	if n := int(srv.running.Load()); n < stuck+1 {
		t.Errorf("%d readers running with %d requests in handling, want more", n, stuck)
	}
}

package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/proc"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// fakeContent renders every file as one line naming it.
type fakeContent struct{}

func (fakeContent) Render(dst []byte, f vfiles.File, tid int) ([]byte, error) {
	return fmt.Appendf(dst, "file %s\n", f), nil
}

func (fakeContent) CPUView(tid int) (proc.CPUView, error) { return proc.CPUView{Host: []int{0}}, nil }

func (fakeContent) SizeHint(f vfiles.File) uint64 { return 4096 }

// newFS is a node layer over fakeContent, with handle epoch epoch.
func newFS(epoch uint16) *fs.FS {
	return fs.New(fs.Options{Content: fakeContent{}, HandleEpoch: epoch})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mountFS mounts a fresh node layer on a new directory; a cleanup unmounts
// it unless the test has already.
func mountFS(t *testing.T) (string, *fs.Server) {
	t.Helper()
	testenv.RequireMountAndCgroups(t)
	mnt := t.TempDir()
	srv, err := Mount(mnt, newFS(1), MountOptions{})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-srv.Ended():
			return
		default:
		}
		if err := unmountServer(srv, 2*time.Second); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return mnt, srv
}

package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/fs"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

func TestMountpointChecks(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	file := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(file, nil, 0o644))
	if _, err := Mount(file, newFS(1), MountOptions{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("mount on a file: %v", err)
	}
	if _, err := Mount(filepath.Join(t.TempDir(), "missing"), newFS(1), MountOptions{}); err == nil {
		t.Errorf("mount on a missing directory succeeded")
	}
	mnt, _ := mountFS(t)
	if _, err := Mount(mnt, newFS(1), MountOptions{}); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("mount on a busy mountpoint: %v", err)
	}

	// A bind mount (a Kubernetes hostPath volume in the daemon's pod) is
	// no reason to refuse: it is mounted over.
	bind := t.TempDir()
	must(t, unix.Mount(bind, bind, "", unix.MS_BIND, ""))
	t.Cleanup(func() { unix.Unmount(bind, unix.MNT_DETACH) })
	srv, err := Mount(bind, newFS(1), MountOptions{})
	if err != nil {
		t.Fatalf("mount on a bind mount: %v", err)
	}
	if _, err := os.ReadFile(filepath.Join(bind, "proc/meminfo")); err != nil {
		t.Errorf("read through the mount made over a bind mount: %v", err)
	}
	if err := unmountServer(srv, 2*time.Second); err != nil {
		t.Errorf("unmount: %v", err)
	}
}

func TestParseMountOptions(t *testing.T) {
	a, err := parseMountOptions([]string{"allow_other", "ro", "default_permissions", "entry_timeout=3", "nonempty", "fsname=x"})
	if err != nil {
		t.Fatal(err)
	}
	if a.flags&unix.MS_RDONLY == 0 || !slices.Equal(a.data, []string{"default_permissions"}) || a.source != "x" {
		t.Errorf("got %+v", a)
	}
	for _, bad := range []string{"bogus", "max_read=abc", "blksize=-1"} {
		if _, err := parseMountOptions([]string{bad}); err == nil {
			t.Errorf("-o %s accepted", bad)
		}
	}
}

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

// connEnded tells a served connection from one whose mount is gone. (Were
// it to wait in poll, the first call would never return.)
func TestConnEnded(t *testing.T) {
	_, srv := mountFS(t)
	fd, err := unix.Dup(int(srv.Conn().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if connEnded(fd) {
		t.Fatal("a mounted, served connection reads as ended")
	}
	if err := unmountServer(srv, 2*time.Second); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	if !connEnded(fd) {
		t.Fatal("the connection of an unmounted filesystem reads as alive")
	}
}

// TestMountFailureUnmounts: a mount whose INIT cannot be served as asked
// (--fuse-uring=on where the kernel does not permit rings) fails and leaves
// nothing mounted. enable_uring is left as it is: fs's tests and the
// integration tests set it, and test binaries run at the same time.
func TestMountFailureUnmounts(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	if fs.URingAvailability() == "" {
		t.Skip("the kernel permits FUSE over io_uring: a --fuse-uring=on mount would not fail")
	}
	mnt := t.TempDir()
	srv, err := Mount(mnt, newFS(1), MountOptions{Server: fs.ServerOptions{URing: fs.URingOn}})
	if err == nil {
		unmountServer(srv, 2*time.Second)
		t.Skip("enable_uring was turned on meanwhile (another test)")
	}
	if !strings.Contains(err.Error(), "--fuse-uring=on") {
		t.Fatalf("--fuse-uring=on without rings: %v", err)
	}
	if _, mounted := LookupMount(mnt); mounted {
		Unmount(mnt)
		t.Fatal("a failed --fuse-uring=on mount stayed mounted")
	}
}

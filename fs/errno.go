package fs

import (
	"errors"
	iofs "io/fs"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lxcfs-go/lxcfs-go/content"
)

// errnoOf is the one place that turns errors into FUSE statuses. go-fuse's
// ToStatus does not unwrap, so a wrapped ENOENT would come back as ENOSYS.
func errnoOf(err error) fuse.Status {
	if err == nil {
		return fuse.OK
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, content.ErrCallerGone):
		return fuse.Status(syscall.ESRCH)
	case errors.As(err, &errno):
		return fuse.Status(errno)
	case errors.Is(err, iofs.ErrNotExist):
		return fuse.ENOENT
	case errors.Is(err, iofs.ErrPermission):
		return fuse.EACCES
	}
	return fuse.EIO
}

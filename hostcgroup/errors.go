package hostcgroup

import (
	"errors"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// ErrParse is wrapped by every error about malformed kernel or cgroup text.
// It is hostfs.ErrParse: the host files' parsers (mountinfo,
// /proc/<pid>/stat) live there, and callers test one sentinel.
var ErrParse = hostfs.ErrParse

// ErrNoController is wrapped when a controller needed for a value is mounted
// in no hierarchy the daemon can read.
var ErrNoController = errors.New("hostcgroup: controller not available")

// ErrNoProcess is wrapped when the process a request names is gone.
var ErrNoProcess = errors.New("hostcgroup: no such process")

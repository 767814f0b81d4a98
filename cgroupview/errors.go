package cgroupview

import "errors"

// ErrParse is wrapped by every error about malformed kernel or cgroup text.
var ErrParse = errors.New("cgroupview: parse error")

// ErrNoController is wrapped when a controller needed for a value is mounted
// in no hierarchy the daemon can read.
var ErrNoController = errors.New("cgroupview: controller not available")

// ErrNoProcess is wrapped when the process a request names is gone.
var ErrNoProcess = errors.New("cgroupview: no such process")

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pidfile is a locked pid file. It is removed only by the instance that holds
// the lock, so a second instance started by mistake leaves the first one's
// file alone (lxcfs deletes it).
type pidfile struct {
	path string
	f    *os.File
}

func lockPidfile(path string) (*pidfile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pidfile: %w", err)
	}
	// An open-file-description lock: unlike a classic fcntl lock it is not
	// dropped when some other fd of the same file is closed in this
	// process, and it still conflicts with lxcfs's fcntl locks.
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			holder := ""
			if b, err := os.ReadFile(path); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					holder = fmt.Sprintf(" (pid %d)", pid)
				}
			}
			return nil, fmt.Errorf("pidfile %s is locked by another running instance%s", path, holder)
		}
		return nil, fmt.Errorf("pidfile %s: lock: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	return &pidfile{path: path, f: f}, nil
}

func (p *pidfile) release() {
	os.Remove(p.path)
	p.f.Close()
}

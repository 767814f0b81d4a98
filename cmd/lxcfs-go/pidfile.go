package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/daemon"
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
	err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	// A holder that was just killed keeps the lock until its last thread
	// has exited, a moment after its leader became a zombie: a restart
	// right after a crash waits for that.
	for deadline := time.Now().Add(2 * time.Second); err != nil && time.Now().Before(deadline) && lockHolderExiting(path); {
		time.Sleep(10 * time.Millisecond)
		err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	}
	if err != nil {
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

// lockHolderExiting reports whether the pid in the pidfile is gone or a
// zombie.
func lockHolderExiting(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(st), ')')
	return i > 0 && i+2 < len(st) && (st[i+2] == 'Z' || st[i+2] == 'X')
}

// openPidfile locks the pidfile, or adopts the locked one a predecessor
// passed on (the lock is on the open file description, so it never lapses).
func openPidfile(path string, tk *daemon.Takeover) (*pidfile, error) {
	if tk == nil {
		return lockPidfile(path)
	}
	if tk.Pidfile == nil {
		return nil, errors.New("hand-over without the pidfile")
	}
	return adoptPidfile(path, tk.Pidfile)
}

// adoptPidfile takes over the pidfile a predecessor locked and passed on: f
// is the same open file description, so the lock is already ours.
func adoptPidfile(path string, f *os.File) (*pidfile, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		f.Close()
		return nil, fmt.Errorf("pidfile %s from the predecessor: lock: %w", path, err)
	}
	return &pidfile{path: path, f: f}, nil
}

// writeOwn puts this process's pid in the file.
func (p *pidfile) writeOwn() error {
	if err := p.f.Truncate(0); err != nil {
		return fmt.Errorf("pidfile %s: %w", p.path, err)
	}
	if _, err := p.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return fmt.Errorf("pidfile %s: %w", p.path, err)
	}
	return nil
}

// handOff closes the pidfile without removing it: a successor holds the
// lock and has written its pid.
func (p *pidfile) handOff() { p.f.Close() }

func (p *pidfile) release() {
	os.Remove(p.path)
	p.f.Close()
}

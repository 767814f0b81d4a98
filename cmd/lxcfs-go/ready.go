package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/daemon"
)

// readyChildEnv marks the child process of `lxcfs-go ready` that does the
// read: a read stuck in FUSE cannot be cancelled (once the daemon has taken
// the request, not even SIGKILL ends it), so the parent waits for the child
// with a timeout and answers whatever happens to the child.
const readyChildEnv = "LXCFS_GO_READY_CHILD"

const readyUsage = `Usage: lxcfs-go ready [--timeout DURATION] [--file FILE] [MOUNTPOINT]

Exits 0 if the lxcfs-go mount at MOUNTPOINT (default /var/lib/lxcfs) answers:
it is a FUSE mount, and FILE below it (default proc/uptime) reads as a
non-empty file within DURATION (default 2s). Otherwise it says why on stderr
and exits 1: absent, not mounted, its daemon gone (Transport endpoint is not
connected), or wedged (no answer in time). The read runs in a child process,
so a wedged mount cannot hold this command past DURATION. For Kubernetes
readiness probes (deploy/kubernetes/daemonset.yaml).
`

// readyConfig is one readiness check.
type readyConfig struct {
	mountpoint string
	file       string
	timeout    time.Duration
	// child is the command that reads the file: this binary again, with
	// readyChildEnv set.
	child func(args []string) *exec.Cmd
}

func readyMain(args []string, stdout, stderr io.Writer) int {
	cfg := readyConfig{mountpoint: "/var/lib/lxcfs", file: "proc/uptime", timeout: 2 * time.Second}
	positional, nmount := false, 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if positional {
			name = ""
		}
		switch name {
		case "--":
			positional = true
		case "-h", "--help":
			fmt.Fprint(stdout, readyUsage)
			return 0
		case "--timeout", "--file":
			if !hasValue {
				var ok bool
				if value, ok = nextValue("ready", name, args, &i, stderr); !ok {
					return 2
				}
			}
			if name == "--file" {
				cfg.file = value
				continue
			}
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				fmt.Fprintf(stderr, "lxcfs-go ready: --timeout %q is not a positive duration such as 2s\n", value)
				return 2
			}
			cfg.timeout = d
		default:
			if strings.HasPrefix(a, "-") && !positional {
				fmt.Fprintf(stderr, "lxcfs-go ready: unknown option %s\n%s", a, readyUsage)
				return 2
			}
			if nmount++; nmount > 1 {
				fmt.Fprintf(stderr, "lxcfs-go ready: one mount point, not %q and %q\n", cfg.mountpoint, a)
				return 2
			}
			cfg.mountpoint = a
		}
	}
	if rel := filepath.Clean(cfg.file); filepath.IsAbs(rel) || rel == "." || strings.HasPrefix(rel, "..") {
		fmt.Fprintf(stderr, "lxcfs-go ready: --file %q is not a path below the mount point\n", cfg.file)
		return 2
	}
	if os.Getenv(readyChildEnv) == "1" {
		if err := readOnce(cfg.mountpoint, cfg.file); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "lxcfs-go ready: %v\n", err)
		return 1
	}
	cfg.child = func(args []string) *exec.Cmd {
		cmd := exec.Command(exe, append([]string{"ready"}, args...)...)
		cmd.Env = append(os.Environ(), readyChildEnv+"=1")
		return cmd
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintf(stderr, "lxcfs-go ready: %s: not ready: %v\n", cfg.mountpoint, err)
		return 1
	}
	fmt.Fprintf(stdout, "lxcfs-go ready: %s: ready\n", cfg.mountpoint)
	return 0
}

// check runs the child and waits at most cfg.timeout for it.
func (cfg readyConfig) check() error {
	cmd := cfg.child([]string{"--file", cfg.file, "--", cfg.mountpoint})
	var out bytes.Buffer
	// An *os.File, not a buffer: exec would wait for a copying goroutine,
	// and the pipe stays open as long as a stuck child lives.
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	w.Close()
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		io.Copy(&out, io.LimitReader(r, 4096))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			if msg := strings.TrimSpace(out.String()); msg != "" {
				return errors.New(msg)
			}
			return fmt.Errorf("reading %s: %v", cfg.file, err)
		}
		return nil
	case <-time.After(cfg.timeout):
		// It may be stuck where no signal reaches; it ends when the mount
		// answers or is aborted. Nothing here waits for it.
		cmd.Process.Kill()
		return fmt.Errorf("no answer reading %s within %v: the mount is wedged or its daemon too busy to answer", cfg.file, cfg.timeout)
	}
}

// fuseSuperMagic is statfs(2)'s f_type of every FUSE file system.
const fuseSuperMagic = 0x65735546

// readOnce is the child's work: the mount is FUSE and file reads.
func readOnce(mountpoint, file string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(mountpoint, &st); err != nil {
		if daemon.DeadConn(err) {
			return fmt.Errorf("the daemon of the FUSE mount is gone (%v); unmount it and restart the daemon", err)
		}
		return err
	}
	if st.Type != fuseSuperMagic {
		return fmt.Errorf("no FUSE file system is mounted there (f_type %#x): the daemon has not mounted it yet", st.Type)
	}
	f, err := os.Open(filepath.Join(mountpoint, file))
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	if n == 0 {
		return fmt.Errorf("%s reads as empty", file)
	}
	return nil
}

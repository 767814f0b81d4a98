package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

const hostCgroupNSUsage = `Usage: lxcfs-go host-cgroupns [--from PID] [--exec PROGRAM] [--] ARGS...

Runs "lxcfs-go ARGS..." (or PROGRAM ARGS...) in the host's cgroup namespace,
as nsenter --cgroup=/proc/1/ns/cgroup would, for a daemon in a pod with
hostPID: true that must see /proc/<pid>/cgroup paths as the host does. The
namespace is the first of pid 1's (some hosts forbid opening it), pid 2's
(kthreadd) or any other process's whose namespace shows kthreadd, which is
always in the root cgroup of every hierarchy, at "/". --from PID takes that
process's namespace only. It needs CAP_SYS_ADMIN (a privileged pod).
`

// errNotHost says a namespace is not the host's.
var errNotHost = errors.New("not the host's cgroup namespace")

func hostCgroupNSMain(args []string, stdout, stderr io.Writer) int {
	from, program := 0, ""
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
		name, value, hasValue := strings.Cut(a, "=")
		switch name {
		case "-h", "--help":
			fmt.Fprint(stdout, hostCgroupNSUsage)
			return 0
		case "--from", "--exec":
			if !hasValue {
				var ok bool
				if value, ok = nextValue("host-cgroupns", name, args, &i, stderr); !ok {
					return 2
				}
			}
			if name == "--exec" {
				program = value
				continue
			}
			n, err := strconv.Atoi(value)
			if err != nil || n <= 0 {
				fmt.Fprintf(stderr, "lxcfs-go host-cgroupns: --from %q is not a pid\n", value)
				return 2
			}
			from = n
		default:
			fmt.Fprintf(stderr, "lxcfs-go host-cgroupns: unknown option %s\n%s", a, hostCgroupNSUsage)
			return 2
		}
	}
	rest := args[i:]
	if len(rest) == 0 && program == "" {
		fmt.Fprintf(stderr, "lxcfs-go host-cgroupns: nothing to run\n%s", hostCgroupNSUsage)
		return 2
	}
	var argv []string
	if program == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "lxcfs-go host-cgroupns: %v\n", err)
			return 1
		}
		program, argv = exe, append([]string{os.Args[0]}, rest...)
	} else {
		path, err := lookPath(program)
		if err != nil {
			fmt.Fprintf(stderr, "lxcfs-go host-cgroupns: %v\n", err)
			return 1
		}
		program, argv = path, append([]string{program}, rest...)
	}

	candidates := []int{from}
	if from == 0 {
		candidates = hostCandidates("/proc")
	}
	err := execInHostCgroupNS("/proc", candidates, program, argv)
	// Only failures return.
	fmt.Fprintf(stderr, "lxcfs-go host-cgroupns: %v\n", err)
	return 1
}

// lookPath finds program in $PATH unless it names a path.
func lookPath(program string) (string, error) {
	if strings.Contains(program, "/") {
		return program, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, program)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in $PATH", program)
}

// hostCandidates lists processes whose cgroup namespace may be the host's:
// 1, 2 (kthreadd), then every other process, in pid order, one per
// distinct namespace.
func hostCandidates(procRoot string) []int {
	pids := []int{1, 2}
	entries, _ := os.ReadDir(procRoot)
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > 2 {
			pids = append(pids, n)
		}
	}
	slices.Sort(pids[2:])
	seen := map[string]bool{}
	var out []int
	for _, pid := range pids {
		ns, err := os.Readlink(filepath.Join(procRoot, strconv.Itoa(pid), "ns/cgroup"))
		if err != nil {
			// Unreadable (pid 1 on some hosts) or gone: still try 1 and 2
			// by opening, which is what counts.
			if pid <= 2 {
				out = append(out, pid)
			}
			continue
		}
		if !seen[ns] {
			seen[ns] = true
			out = append(out, pid)
		}
	}
	return out
}

// execInHostCgroupNS enters the cgroup namespace of the first candidate
// that is the host's and execs program there. Namespaces are per thread:
// each try runs on a locked thread of its own, which the runtime discards
// afterwards (the goroutine exits locked), and the exec happens on the
// thread that joined the namespace, whose namespaces the new program keeps.
func execInHostCgroupNS(procRoot string, candidates []int, program string, argv []string) error {
	var tried []string
	for _, pid := range candidates {
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with us
			errc <- joinHostCgroupNS(procRoot, pid, func() error {
				return syscall.Exec(program, argv, os.Environ())
			})
		}()
		err := <-errc
		tried = append(tried, fmt.Sprintf("pid %d: %v", pid, err))
		var pathErr *os.PathError
		if !errors.Is(err, errNotHost) && !errors.As(err, &pathErr) {
			break // setns refused (no CAP_SYS_ADMIN), or the exec failed
		}
	}
	if len(tried) == 0 {
		return errors.New("no process to take the host's cgroup namespace from")
	}
	return fmt.Errorf("could not enter the host's cgroup namespace: %s", strings.Join(tried, "; "))
}

// joinHostCgroupNS joins pid's cgroup namespace on the calling (locked)
// thread, checks it is the host's, and calls then.
func joinHostCgroupNS(procRoot string, pid int, then func() error) error {
	fd, err := unix.Open(filepath.Join(procRoot, strconv.Itoa(pid), "ns/cgroup"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: fmt.Sprintf("%s/%d/ns/cgroup", procRoot, pid), Err: err}
	}
	err = unix.Setns(fd, unix.CLONE_NEWCGROUP)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	if err := isHostCgroupNS(procRoot); err != nil {
		return err
	}
	return then()
}

// isHostCgroupNS checks the calling thread's cgroup namespace: kthreadd
// (pid 2 in the host's pid namespace) is in the root cgroup of every
// hierarchy, so it reads as "/" everywhere only from the host's namespace
// (or one rooted at the root cgroup, which is the same view): the kernel
// shows cgroup paths relative to the namespace of the thread that reads.
func isHostCgroupNS(procRoot string) error {
	status, err := os.ReadFile(filepath.Join(procRoot, "2/status"))
	if err != nil {
		return fmt.Errorf("%w: cannot see pid 2 (is the pod's hostPID set?): %v", errNotHost, err)
	}
	if !strings.HasPrefix(string(status), "Name:\tkthreadd\n") {
		return fmt.Errorf("%w: pid 2 is not kthreadd: this is not the host's pid namespace (is the pod's hostPID set?)", errNotHost)
	}
	b, err := os.ReadFile(filepath.Join(procRoot, "2/cgroup"))
	if err != nil {
		return fmt.Errorf("%w: %v", errNotHost, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[2] != "/" {
			return fmt.Errorf("%w: kthreadd's cgroup reads %q there", errNotHost, line)
		}
	}
	return nil
}

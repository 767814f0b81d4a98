package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// Bad input through a real mount: callers that misbehave, cgroups and pid
// namespaces that vanish under a reader, and odd read sizes. Each case has
// its expected outcome, and after each the daemon must still be alive and
// answer. Malformed cgroup and /proc files are covered by the unit tests
// of hostcgroup (the "broken" fixture tree, the fuzz targets) and proc
// (the odd-* goldens).

// badHelperEnv makes the test binary a bad-input helper (see badHelper)
// instead of running tests; the value is a JSON badSpec.
const badHelperEnv = "LXCFS_GO_BADINPUT_HELPER"

func init() {
	// A helper must not run TestMain: it is one process doing exact
	// system calls inside a cgroup, reporting JSON on stdout.
	if spec := os.Getenv(badHelperEnv); spec != "" {
		os.Exit(badHelper(spec))
	}
}

// badSpec is what a helper does.
type badSpec struct {
	Mode string // "move", "zero", "huge", "opens"
	File string
	// Move: the cgroup.procs files to move into after the first read,
	// and a directory for the handshake with the test.
	MoveTo  []string `json:",omitempty"`
	SyncDir string   `json:",omitempty"`
	// Opens: how many.
	N int `json:",omitempty"`
}

// badResult is what a helper saw.
type badResult struct {
	Reads  []string // content of each offset-0 read, in order
	N      int      // bytes of the odd-sized read, or files opened
	PastN  int      // bytes of a read past the end
	Err    string
	Errno  syscall.Errno
	Detail string
}

func badHelper(spec string) int {
	var s badSpec
	var r badResult
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		r.Err = err.Error()
	} else if err := runBad(s, &r); err != nil {
		r.Err = err.Error()
		errors.As(err, &r.Errno)
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// preadAll reads fd from offset 0 to EOF.
func preadAll(fd int) (string, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := unix.Pread(fd, buf, off)
		if err != nil {
			return "", fmt.Errorf("pread at %d: %w", off, err)
		}
		if n == 0 {
			return string(out), nil
		}
		out = append(out, buf[:n]...)
		off += int64(n)
	}
}

func runBad(s badSpec, r *badResult) error {
	switch s.Mode {
	case "opens":
		// Raise RLIMIT_NOFILE (root may raise the hard limit too).
		lim := unix.Rlimit{Cur: uint64(s.N + 100), Max: uint64(s.N + 100)}
		var old unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &old)
		if old.Max > lim.Max {
			lim.Max = old.Max
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
		var fds []int
		for range s.N {
			fd, err := unix.Open(s.File, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				r.N = len(fds)
				return fmt.Errorf("open #%d: %w", len(fds)+1, err)
			}
			fds = append(fds, fd)
		}
		r.N = len(fds)
		for _, fd := range []int{fds[0], fds[len(fds)/2], fds[len(fds)-1]} {
			c, err := preadAll(fd)
			if err != nil {
				return err
			}
			r.Reads = append(r.Reads, c)
		}
		return nil // exit with every fd open: the kernel releases them
	}
	fd, err := unix.Open(s.File, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	switch s.Mode {
	case "zero":
		n, err := unix.Read(fd, nil)
		r.N = n
		if err != nil {
			return fmt.Errorf("0-byte read: %w", err)
		}
		c, err := preadAll(fd)
		r.Reads = append(r.Reads, c)
		return err
	case "huge":
		mem, err := unix.Mmap(-1, 0, 1<<30, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return fmt.Errorf("mmap 1 GiB: %w", err)
		}
		defer unix.Munmap(mem)
		n, err := unix.Read(fd, mem)
		r.N = n
		if err != nil {
			return fmt.Errorf("1 GiB read: %w", err)
		}
		r.Reads = append(r.Reads, string(mem[:n]))
		n, err = unix.Read(fd, mem)
		r.PastN = n
		return err
	case "move":
		c, err := preadAll(fd)
		if err != nil {
			return err
		}
		r.Reads = append(r.Reads, c)
		pid := []byte(strconv.Itoa(os.Getpid()))
		for _, f := range s.MoveTo {
			if err := os.WriteFile(f, pid, 0); err != nil {
				return fmt.Errorf("moving: %w", err)
			}
		}
		if err := os.WriteFile(filepath.Join(s.SyncDir, "moved"), nil, 0o644); err != nil {
			return err
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(s.SyncDir, "removed")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("the test never removed the cgroup")
			}
			time.Sleep(10 * time.Millisecond)
		}
		c, err = preadAll(fd)
		if err != nil {
			return fmt.Errorf("same handle after its cgroup was removed: %w", err)
		}
		r.Reads = append(r.Reads, c)
		n, err := unix.Pread(fd, make([]byte, 4096), 1<<20)
		r.PastN = n
		return err
	}
	return fmt.Errorf("unknown mode %q", s.Mode)
}

// runBadHelper runs a bad-input helper inside cg.
func runBadHelper(cg *testenv.Cgroup, s badSpec) (badResult, error) {
	spec, _ := json.Marshal(s)
	self, err := os.Executable()
	if err != nil {
		return badResult{}, err
	}
	out, stderr, err := cg.Run("env", badHelperEnv+"="+string(spec), self)
	if err != nil {
		return badResult{}, fmt.Errorf("helper %s: %v: %s", s.Mode, err, stderr)
	}
	var r badResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return badResult{}, fmt.Errorf("helper %s: bad output %q: %v; stderr %s", s.Mode, out, err, stderr)
	}
	return r, nil
}

// daemonFDs counts the daemon's open file descriptors.
func daemonFDs(t *testing.T, d *testenv.Daemon) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.PID))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// alive fails the test unless the daemon runs and serves a read.
func alive(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	if d.Exited() {
		t.Fatalf("daemon exited: %v\n%s", d.ExitErr(), d.Stderr())
	}
	b, err := os.ReadFile(d.Path(meminfo))
	if err != nil {
		t.Fatalf("daemon does not answer: %v", err)
	}
	mustMeminfo(t, string(b))
}

func TestBadInput(t *testing.T) {
	d := setup(t)
	const limit = 384 * MiB
	cg := newCgroup(t)
	cg.MemoryLimit(limit)
	wantKB := uint64(limit / 1024)

	cases := []struct {
		name string
		want string // the expected outcome, for the log
		run  func(t *testing.T)
	}{
		{"caller exits mid-request", "no reply reaches anyone; later reads work", func(t *testing.T) {
			var wg sync.WaitGroup
			for _, f := range []string{meminfo, stat, cpuinfo, uptime, online} {
				wg.Go(func() {
					if _, err := cg.Do(testenv.Op{Kind: testenv.OpVanish, Path: d.Path(f), Count: 16}); err != nil {
						t.Errorf("%s: %v", f, err)
					}
				})
			}
			wg.Wait()
		}},
		{"cgroup removed while a file is open", "the open handle's next offset-0 read shows the reader's new cgroup; past the end is 0 bytes", func(t *testing.T) {
			if layout, err := testenv.HostLayout(); err == nil && len(layout.V1) == 0 {
				// cgroup2's no-internal-process rule: a parent that gives
				// its child the memory controller takes no process back.
				t.Skip("on cgroup v2 the reader cannot move back into a parent that delegates memory; covered on v1 and hybrid hosts")
			}
			parent := newCgroup(t)
			parent.MemoryLimit(limit)
			child := parent.Child("doomed")
			child.MemoryLimit(256 * MiB)
			syncDir := t.TempDir()
			type out struct {
				r   badResult
				err error
			}
			done := make(chan out, 1)
			go func() {
				r, err := runBadHelper(child, badSpec{Mode: "move", File: d.Path(meminfo), MoveTo: parent.ProcsFiles(), SyncDir: syncDir})
				done <- out{r, err}
			}()
			deadline := time.Now().Add(20 * time.Second)
			for {
				if _, err := os.Stat(filepath.Join(syncDir, "moved")); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("helper never moved")
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, f := range child.ProcsFiles() {
				if err := unix.Rmdir(filepath.Dir(f)); err != nil {
					t.Fatalf("rmdir %s: %v", filepath.Dir(f), err)
				}
			}
			os.WriteFile(filepath.Join(syncDir, "removed"), nil, 0o644)
			o := <-done
			if o.err != nil || o.r.Err != "" {
				t.Fatalf("helper: %v %s", o.err, o.r.Err)
			}
			if got := memTotal(t, o.r.Reads[0]); got != 256*1024 {
				t.Errorf("before removal: MemTotal %d kB, want %d", got, 256*1024)
			}
			if got := memTotal(t, o.r.Reads[1]); got != wantKB {
				t.Errorf("after removal: MemTotal %d kB, want the parent's %d", got, wantKB)
			}
			if o.r.PastN != 0 {
				t.Errorf("read past the end: %d bytes", o.r.PastN)
			}
		}},
		{"pid namespace whose init exits", "readers in it die with it; a new container in another cgroup sees its own limit, not a stale cached one", func(t *testing.T) {
			c1g := newCgroup(t)
			c1g.MemoryLimit(320 * MiB)
			c1 := testenv.StartContainer(t, c1g, testenv.ContainerOptions{})
			if got := memTotal(t, mustRead(t, c1, c1g, d.Path(meminfo))); got != 320*1024 {
				t.Fatalf("container 1: MemTotal %d kB", got)
			}
			// A reader that loops inside the namespace while its init dies.
			looping := make(chan error, 1)
			go func() {
				_, _, err := c1.Run(c1g, "sh", "-c", `while :; do cat "$1" >/dev/null || exit 3; done`, "sh", d.Path(meminfo))
				looping <- err
			}()
			time.Sleep(300 * time.Millisecond)
			if err := syscall.Kill(c1.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-looping:
				var ee interface{ ExitCode() int }
				if errors.As(err, &ee) && ee.ExitCode() == 3 {
					t.Errorf("the reader saw a failed read before it was killed: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("reader in the dead namespace still running")
			}
			c2g := newCgroup(t)
			c2g.MemoryLimit(352 * MiB)
			c2 := testenv.StartContainer(t, c2g, testenv.ContainerOptions{})
			if got := memTotal(t, mustRead(t, c2, c2g, d.Path(meminfo))); got != 352*1024 {
				t.Errorf("container 2: MemTotal %d kB, want %d", got, 352*1024)
			}
		}},
		{"10 000 opens without closes", "all opens succeed, every handle reads; the daemon holds no fd per handle and lets them all go at exit", func(t *testing.T) {
			before := daemonFDs(t, d)
			r, err := runBadHelper(cg, badSpec{Mode: "opens", File: d.Path(meminfo), N: 10000})
			if err != nil {
				t.Fatal(err)
			}
			if r.Err != "" || r.N != 10000 {
				t.Fatalf("%d opens: %s", r.N, r.Err)
			}
			for _, c := range r.Reads {
				if got := memTotal(t, c); got != wantKB {
					t.Errorf("MemTotal %d kB, want %d", got, wantKB)
				}
			}
			if after := daemonFDs(t, d); after > before+16 {
				t.Errorf("daemon fds %d -> %d", before, after)
			}
		}},
		{"read of 0 bytes", "returns 0 without error; the next read gives the file", func(t *testing.T) {
			r, err := runBadHelper(cg, badSpec{Mode: "zero", File: d.Path(meminfo)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Err != "" || r.N != 0 {
				t.Fatalf("0-byte read: n=%d %s", r.N, r.Err)
			}
			if got := memTotal(t, r.Reads[0]); got != wantKB {
				t.Errorf("MemTotal %d kB, want %d", got, wantKB)
			}
		}},
		{"read with a 1 GiB buffer", "returns the whole file at once; the next read returns 0", func(t *testing.T) {
			for _, f := range []string{meminfo, cpuinfo, stat} {
				r, err := runBadHelper(cg, badSpec{Mode: "huge", File: d.Path(f)})
				if err != nil {
					t.Fatal(err)
				}
				if r.Err != "" || r.N == 0 || r.N != len(r.Reads[0]) || r.PastN != 0 {
					t.Fatalf("%s: n=%d past=%d err=%s", f, r.N, r.PastN, r.Err)
				}
				if err := parseAny(f, r.Reads[0]); err != nil {
					t.Errorf("%s: %v", f, err)
				}
				if f == meminfo {
					if got := memTotal(t, r.Reads[0]); got != wantKB {
						t.Errorf("MemTotal %d kB, want %d", got, wantKB)
					}
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Logf("expected: %s", c.want)
			c.run(t)
			alive(t, d)
		})
	}
	if s := d.Stderr(); strings.Contains(s, "panic") || strings.Contains(s, "DATA RACE") {
		t.Errorf("daemon stderr:\n%s", s)
	}
}

func mustRead(t *testing.T, c *testenv.Container, cg *testenv.Cgroup, path string) string {
	t.Helper()
	s, err := c.ReadFile(cg, path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

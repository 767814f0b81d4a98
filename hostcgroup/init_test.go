package hostcgroup

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// procTree is a fake ProcFS for ContainerInit. Namespaces are files under
// ns/; a process's ns/pid is a hard link to one, so that processes of the
// same namespace share an inode as on nsfs.
type procTree struct {
	t    *testing.T
	root string
}

// statLine builds a /proc/<pid>/stat line with the given comm and starttime.
func statLine(comm string, start uint64) string {
	// fields 3..21, then 22 = starttime, then the rest
	return fmt.Sprintf("42 (%s) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %d 2400000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n", comm, start)
}

func newProcTree(t *testing.T) *procTree {
	p := &procTree{t: t, root: t.TempDir()}
	for _, ns := range []string{"host", "ct1", "ct2"} {
		p.write("ns/"+ns, ns)
	}
	p.link("self", "host")
	return p
}

func (p *procTree) write(name, content string) {
	p.t.Helper()
	f := filepath.Join(p.root, name)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *procTree) link(pid, ns string) {
	p.t.Helper()
	if err := os.MkdirAll(filepath.Join(p.root, "proc", pid, "ns"), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Link(filepath.Join(p.root, "ns", ns), filepath.Join(p.root, "proc", pid, "ns", "pid")); err != nil {
		p.t.Fatal(err)
	}
}

// proc adds a process: pid in namespace ns, thread group tgid, NSpid line
// nspid ("" for none), started at start.
func (p *procTree) proc(pid int, ns string, tgid int, nspid string, start uint64) {
	s := strconv.Itoa(pid)
	p.link(s, ns)
	status := fmt.Sprintf("Name:\tx\nTgid:\t%d\nPid:\t%d\n", tgid, pid)
	if nspid != "" {
		status += "NSpid:\t" + nspid + "\n"
	}
	p.write("proc/"+s+"/status", status)
	p.write("proc/"+s+"/stat", statLine("x", start))
}

func (p *procTree) view() *View {
	h := hostfs.New(hostfs.Options{ProcFS: filepath.Join(p.root, "proc")})
	v := &View{host: h, procFS: h.ProcFS(), log: slog.New(slog.DiscardHandler)}
	v.initCaches()
	return v
}

func TestContainerInitFake(t *testing.T) {
	p := newProcTree(t)
	p.proc(1, "host", 1, "1", 10)
	p.proc(50, "host", 50, "50", 500)
	p.proc(51, "host", 50, "51", 510) // a thread of 50
	p.proc(100, "ct1", 100, "100\t3", 1000)
	p.proc(200, "ct1", 200, "200\t1", 2000)
	p.proc(201, "ct1", 201, "201\t5", 2100)
	p.proc(400, "ct2", 400, "400\t2", 4000) // ct2 has no init
	v := p.view()

	check := func(tid int, wantRef, wantInit Process, wantErr error) {
		t.Helper()
		ref, init, err := v.ContainerInit(tid)
		if !errors.Is(err, wantErr) {
			t.Fatalf("ContainerInit(%d) err = %v, want %v", tid, err, wantErr)
		}
		if err != nil {
			return
		}
		if diff := cmp.Diff([]Process{wantRef, wantInit}, []Process{ref, init}); diff != "" {
			t.Errorf("ContainerInit(%d) [ref init] (-want +got):\n%s", tid, diff)
		}
	}
	hostInit := Process{PID: 1, StartTicks: 10}
	// Host callers use their own process; a thread resolves to its process.
	check(50, Process{50, 500}, hostInit, nil)
	check(51, Process{50, 500}, hostInit, nil)
	check(1, hostInit, hostInit, nil)
	// A container caller gets its namespace's init; ns/pid is a plain file
	// here, so the ioctl fails with ENOTTY and the /proc scan runs.
	ct1 := Process{PID: 200, StartTicks: 2000}
	check(201, ct1, ct1, nil)
	check(100, ct1, ct1, nil)
	check(200, ct1, ct1, nil)

	// Cache hit: the scan could not find 200 without its status file.
	if err := os.Remove(filepath.Join(p.root, "proc/200/status")); err != nil {
		t.Fatal(err)
	}
	check(201, ct1, ct1, nil)

	// 200 exits and its PID is reused by a new process; ct1 gets a new init
	// (in reality a new namespace that reuses the inode).
	p.write("proc/200/stat", statLine("x", 9999))
	p.proc(300, "ct1", 300, "300\t1", 3000)
	ct1b := Process{PID: 300, StartTicks: 3000}
	check(201, ct1b, ct1b, nil)

	// A namespace without an init is an error, but not ErrNoProcess: the
	// caller exists.
	if _, _, err := v.ContainerInit(400); err == nil || errors.Is(err, ErrNoProcess) {
		t.Errorf("ContainerInit(400) err = %v, want an error other than ErrNoProcess", err)
	}
	check(999, Process{}, Process{}, ErrNoProcess)
	check(0, Process{}, Process{}, ErrNoProcess)
	check(-1, Process{}, Process{}, ErrNoProcess)

	// A garbage Tgid is a parse error.
	p.proc(60, "host", 60, "", 600)
	p.write("proc/60/status", "Tgid:\tsixty\n")
	check(60, Process{}, Process{}, ErrParse)
}

func TestInitCachePrune(t *testing.T) {
	p := newProcTree(t)
	p.proc(200, "ct1", 200, "200\t1", 2000)
	v := p.view()
	ns, err := v.pidNS(200)
	if err != nil {
		t.Fatal(err)
	}
	live := Process{PID: 200, StartTicks: 2000}
	v.storeInit(ns.ino, live)
	// Entries for inits that are gone (no /proc/<pid>) are dropped once the
	// cache outgrows minPruneAt: the last of these inserts makes it
	// minPruneAt+1 entries long.
	for i := range minPruneAt {
		v.storeInit(uint64(1_000_000+i), Process{PID: 100_000 + i, StartTicks: 1})
	}
	v.inits.mu.Lock()
	n, got := len(v.inits.m), v.inits.m[ns.ino]
	v.inits.mu.Unlock()
	if n != 1 || got != live {
		t.Errorf("after prune: %d entries, live entry %+v; want only %+v", n, got, live)
	}
}

// TestContainerInitReal uses real pid namespaces on this machine.
func TestContainerInitReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: CLONE_NEWPID and reading other processes' ns/pid")
	}
	v, err := New(Options{ProcFS: "/proc"})
	if err != nil {
		t.Fatal(err)
	}
	self, err := v.process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	pid1, err := v.process(1)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("self", func(t *testing.T) {
		ref, init, err := v.ContainerInit(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if ref != self || init != pid1 {
			t.Errorf("ref %+v init %+v, want %+v %+v", ref, init, self, pid1)
		}
	})

	t.Run("own thread", func(t *testing.T) {
		tids := make(chan int)
		release := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			<-release
		}()
		tid := <-tids
		defer close(release)
		ref, _, err := v.ContainerInit(tid)
		if err != nil {
			t.Fatal(err)
		}
		if ref != self {
			t.Errorf("thread %d: ref %+v, want %+v", tid, ref, self)
		}
	})

	// A new pid namespace: P is its init (sh), G a grandchild (sleep).
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start a process in a new pid namespace:", err)
	}
	P := cmd.Process.Pid
	var G int
	t.Cleanup(func() {
		if G > 0 {
			_ = syscall.Kill(G, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for G == 0 && time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", P, P))
		if err != nil {
			t.Skip("no /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN):", err)
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			G, _ = strconv.Atoi(f[0])
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if G == 0 {
		t.Fatal("the grandchild did not show up")
	}
	wantInit, err := v.process(P)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		noIoctl bool
	}{{"ioctl", false}, {"scan", true}} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(Options{ProcFS: "/proc"})
			if err != nil {
				t.Fatal(err)
			}
			v.inits.noIoctl = tc.noIoctl
			if !tc.noIoctl {
				ns, err := v.pidNS(G)
				if err != nil {
					t.Fatal(err)
				}
				switch pid, err := v.initByIoctl(G, ns); {
				case errors.Is(err, errNoIoctl):
					t.Logf("kernel lacks NS_GET_TGID_FROM_PIDNS: lookups scan /proc")
				case err != nil:
					t.Fatal(err)
				case pid != P:
					t.Fatalf("ioctl gave %d, want %d", pid, P)
				}
			}
			for _, tid := range []int{G, P, G} { // the last is a cache hit
				ref, init, err := v.ContainerInit(tid)
				if err != nil {
					t.Fatalf("ContainerInit(%d): %v", tid, err)
				}
				if init != wantInit || ref != wantInit {
					t.Errorf("ContainerInit(%d) = ref %+v init %+v, want both %+v", tid, ref, init, wantInit)
				}
			}
		})
	}

	t.Run("vanished", func(t *testing.T) {
		c := exec.Command("/bin/true")
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		gone := c.Process.Pid
		if _, _, err := v.ContainerInit(gone); !errors.Is(err, ErrNoProcess) {
			t.Errorf("ContainerInit(%d) err = %v, want ErrNoProcess", gone, err)
		}
		if _, err := v.Cgroups(gone); !errors.Is(err, ErrNoProcess) {
			t.Errorf("Cgroups(%d) err = %v, want ErrNoProcess", gone, err)
		}
	})
}

func TestPIDIn(t *testing.T) {
	p := newProcTree(t)
	p.proc(50, "host", 50, "50", 500)
	p.proc(200, "ct1", 200, "200\t1", 2000)
	p.proc(201, "ct1", 201, "201\t5", 2100)
	p.proc(400, "ct2", 400, "400\t2", 4000)
	v := p.view()
	for _, c := range []struct {
		pid, reader int
		want        int
		ok          bool
	}{
		{201, 200, 5, true},  // a container's thread, read inside it
		{400, 200, 0, false}, // another container's: not visible
		{50, 200, 0, false},  // the host's: not visible in a container
		{201, 50, 201, true}, // a host reader numbers pids as the host does
		// ... even a thread that is gone meanwhile (loadavg's newest
		// thread of a container may have exited).
		{999, 50, 999, true},
		{999, 200, 0, false}, // gone, read from a container: unknown
		{201, 998, 0, false}, // the reader is gone
	} {
		got, ok := v.PIDIn(c.reader, c.pid)
		if got != c.want || ok != c.ok {
			t.Errorf("PIDIn(%d, %d) = %d, %v; want %d, %v", c.reader, c.pid, got, ok, c.want, c.ok)
		}
	}
	// Several pids: the first the reader numbers.
	for _, c := range []struct {
		reader int
		pids   []int
		want   int
		ok     bool
	}{
		{200, []int{400, 201}, 5, true},  // another container's skipped
		{200, []int{999, 200}, 1, true},  // a gone thread skipped
		{200, []int{50, 400}, 0, false},  // none visible
		{50, []int{0, 201}, 201, true},   // a host reader: the first pid > 0
		{998, []int{201, 200}, 0, false}, // the reader is gone
	} {
		got, ok := v.PIDIn(c.reader, c.pids...)
		if got != c.want || ok != c.ok {
			t.Errorf("PIDIn(%d, %v) = %d, %v; want %d, %v", c.reader, c.pids, got, ok, c.want, c.ok)
		}
	}
}

package v2vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/v2vm/wire"
)

// Paths inside the guest.
const (
	guestDaemon      = "/bin/lxcfs-go"
	guestIntegration = "/bin/integration.test"
	guestModuleDir   = "/lib/modules"
	guestSrc         = "/src" // the repository's test data, for the integration tests
)

// initramfs says what goes into the guest's initramfs.
type initramfs struct {
	Busybox     string
	Guest       string // becomes /init
	Daemon      string // "" when it did not build
	Integration string // "" when absent
	// IntegrationDir is the integration package's directory relative to
	// the repository root; its testdata/ is copied to /src/<dir>/testdata.
	IntegrationDir string
	RepoRoot       string
	// HostTools are host binaries copied in with their shared libraries,
	// replacing busybox's applets of the same name: the integration tests'
	// testenv uses util-linux's unshare --cgroup, which busybox lacks, and
	// runs it from "sh -c ... exec unshare", which Debian's static busybox
	// ash would run as its own applet (it prefers applets to PATH), so sh
	// is the host's too.
	HostTools []string
	Kernel    *kernel
	Config    wire.Config
}

// writeInitramfs writes the uncompressed newc archive to dst.
func writeInitramfs(dst string, in initramfs) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	c := newCPIO(bw)
	for _, d := range []string{"dev", "proc", "sys", "run", "mnt", "root", "etc", guestModuleDir, guestSrc} {
		c.Dir(d, 0o755)
	}
	c.Dir("tmp", 0o1777)
	c.CharDev("dev/console", 0o600, 5, 1)
	c.CharDev("dev/null", 0o666, 1, 3)
	c.CopyFile("init", 0o755, in.Guest)
	c.CopyFile("bin/busybox", 0o755, in.Busybox)
	applets, err := busyboxApplets(in.Busybox)
	if err != nil {
		f.Close()
		return err
	}
	fromHost := map[string]bool{}
	for _, p := range in.HostTools {
		fromHost[filepath.Base(p)] = true
	}
	for _, a := range applets {
		if a != "busybox" && !strings.Contains(a, "/") && !fromHost[a] {
			c.Symlink("bin/"+a, "busybox")
		}
	}
	libs := map[string]bool{}
	for _, p := range in.HostTools {
		c.CopyFile("bin/"+filepath.Base(p), 0o755, p)
		deps, err := sharedLibs(p)
		if err != nil {
			f.Close()
			return err
		}
		for _, l := range deps {
			if !libs[l] {
				libs[l] = true
				c.CopyFile(l, 0o755, l) // follows the host's symlinks
			}
		}
	}
	c.Symlink("sbin", "bin")
	c.Symlink("usr/bin", "../bin")
	c.Symlink("usr/sbin", "../bin")
	c.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"))
	c.File("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	if in.Daemon != "" {
		c.CopyFile(guestDaemon, 0o755, in.Daemon)
	}
	if in.Integration != "" {
		c.CopyFile(guestIntegration, 0o755, in.Integration)
		td := filepath.Join(in.RepoRoot, in.IntegrationDir, "testdata")
		if st, err := os.Stat(td); err == nil && st.IsDir() {
			if err := copyTree(c, td, path.Join(guestSrc, filepath.ToSlash(in.IntegrationDir), "testdata")); err != nil {
				f.Close()
				return err
			}
		}
		c.Dir(path.Join(guestSrc, filepath.ToSlash(in.IntegrationDir)), 0o755)
	}
	cfg := in.Config
	for _, m := range in.Kernel.Modules {
		p := path.Join(guestModuleDir, path.Base(m.File))
		c.CopyFile(p, 0o644, filepath.Join(in.Kernel.Dir, m.File))
		cfg.Modules = append(cfg.Modules, wire.Module{Name: m.Name, Path: p, Params: m.Params})
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		f.Close()
		return err
	}
	c.File(wire.ConfigPath, 0o644, b)
	if err := c.Close(); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyTree(c *cpioWriter, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := path.Join(dst, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			c.Dir(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			c.Symlink(target, l)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			c.CopyFile(target, uint32(info.Mode().Perm()), p)
		}
		return nil
	})
}

// sharedLibs lists the shared libraries (and the ELF interpreter) a host
// binary loads, from ldd; none for a static binary.
func sharedLibs(bin string) ([]string, error) {
	if isStaticELF(bin) {
		return nil, nil
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}

// hostTools finds the host binaries the guest should have; absent ones are
// left out (the busybox applet stays).
func hostTools(names ...string) []string {
	var out []string
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// busyboxApplets lists the applets of a (static, so runnable here) busybox.
func busyboxApplets(bb string) ([]string, error) {
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", bb, err)
	}
	return strings.Fields(string(out)), nil
}

// vmSpec is one boot.
type vmSpec struct {
	QEMU      string
	Kernel    string
	Initramfs string
	Append    string
	Accel     string // "tcg" (default), "kvm"
	MemoryMB  int
	CPUs      int
	Log       string // console log file
	Timeout   time.Duration
	Logf      func(string, ...any)
	// QMP is the path of qemu's QMP socket, for the NMI at the time
	// limit; none when empty.
	QMP string
	// PokeAfter is how long the guest may be silent before it is poked
	// (0: pokeAfter).
	PokeAfter time.Duration
}

// qemuArgs is the command line; also written to run-qemu.sh for debugging.
func (s vmSpec) qemuArgs() []string {
	args := []string{
		s.QEMU,
		"-nodefaults", "-no-user-config",
		"-machine", "pc", "-accel", s.Accel, "-cpu", "max",
		"-m", fmt.Sprint(s.MemoryMB), "-smp", fmt.Sprint(s.CPUs),
		"-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", s.Kernel, "-initrd", s.Initramfs,
		"-append", s.Append,
	}
	if s.QMP != "" {
		args = append(args, "-qmp", "unix:"+s.QMP+",server=on,wait=off")
	}
	return args
}

// vmRun is what one boot produced.
type vmRun struct {
	Results []wire.Result
	Infos   []wire.Info
	ITest   []string
	Done    *wire.Done
	// BadLines are protocol lines that did not parse.
	BadLines []error
	// FirstRecord and DoneAt are measured from qemu's start.
	FirstRecord, DoneAt, Exited time.Duration
	TimedOut                    bool
	// Pokes are the times the guest fell silent and was poked.
	Pokes []poke
	// Frozen: the guest printed nothing for pokeAfter after a poke either;
	// it was sent the NMI then, not at the time limit.
	Frozen bool
	// Err is qemu's exit error, if any.
	Err error
}

// runVM boots the VM and collects the guest's protocol lines from its
// serial console, which is copied verbatim to spec.Log. qemu is stopped a
// few seconds after the guest said DONE without powering off.
//
// A guest that falls silent is poked: after pokeAfter without a console
// line, one newline is written to its serial input. Nothing in the guest
// reads that input, so lines that follow at once say the guest was stuck in
// its kernel (waiting for a wake-up of the emulated machine that did not
// come), not in our code; the poke and how soon the guest printed after it
// are recorded (vmRun.Pokes). When the time limit passes, the guest is sent
// an NMI (over QMP, spec.QMP), which its kernel turns into a panic that
// prints every task's stack (the kernel command line's unknown_nmi_panic
// and panic_print); qemu is killed by its PID nmiGrace later if still
// running.
func runVM(ctx context.Context, spec vmSpec) (*vmRun, error) {
	logf, err := os.Create(spec.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	killCtx, kill := context.WithTimeout(ctx, spec.Timeout+nmiGrace)
	defer kill()
	args := spec.qemuArgs()
	cmd := exec.CommandContext(killCtx, args[0], args[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start %s: %v", errUnavailable, args[0], err)
	}
	spec.Logf("qemu pid %d started; console log %s", cmd.Process.Pid, spec.Log)

	run := &vmRun{}
	lines := make(chan struct{}, 1)
	sawDone := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReaderSize(stdout, 1<<16)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				_, _ = io.WriteString(logf, line)
				hadDone := run.Done != nil
				run.add(line, time.Since(start))
				if !hadDone && run.Done != nil {
					close(sawDone)
				}
				select {
				case lines <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	timedOut := run.watch(spec, stdin, lines, sawDone, done, start, kill)
	werr := cmd.Wait()
	run.TimedOut = timedOut
	run.Exited = time.Since(start)
	if werr != nil && run.Done == nil {
		run.Err = fmt.Errorf("qemu: %w: %s", werr, lastLines(stderr.String(), 10))
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		_, _ = fmt.Fprintf(logf, "\n--- qemu stderr ---\n%s\n", s)
	}
	return run, nil
}

const (
	// pokeAfter is how long the guest may be silent before it is poked;
	// its scenarios and integration tests print far more often.
	pokeAfter = 60 * time.Second
	// nmiGrace is how long a guest sent an NMI at the time limit has to
	// print its tasks and panic before qemu is killed.
	nmiGrace = 20 * time.Second
)

// poke is one newline written to a silent guest's serial input.
type poke struct {
	At      time.Duration // since qemu started
	Resumed bool          // a console line followed
	After   time.Duration // how soon it did
}

// watch follows the run until the console closes (done): it pokes a
// silent guest, sends the NMI at the time limit, and stops qemu (kill)
// after DONE (sawDone) or when the limit and the NMI's grace have passed.
// It reports whether the limit passed before DONE.
func (r *vmRun) watch(spec vmSpec, stdin io.Writer, lines, sawDone, done <-chan struct{}, start time.Time, kill func()) (timedOut bool) {
	quiet := spec.PokeAfter
	if quiet <= 0 {
		quiet = pokeAfter
	}
	limit := time.NewTimer(spec.Timeout)
	defer limit.Stop()
	silence := time.NewTimer(quiet)
	defer silence.Stop()
	for {
		select {
		case <-done:
			return timedOut
		case <-sawDone:
			// The guest powers off right after DONE; give it a moment,
			// then stop qemu ourselves.
			sawDone = nil
			time.AfterFunc(10*time.Second, kill)
		case <-lines:
			if r.Frozen {
				continue // the NMI's dump
			}
			if n := len(r.Pokes); n > 0 && !r.Pokes[n-1].Resumed {
				p := &r.Pokes[n-1]
				p.Resumed, p.After = true, time.Since(start)-p.At
				spec.Logf("the guest printed again %v after the poke at %v", p.After.Round(time.Millisecond), p.At.Round(time.Second))
			}
			silence.Reset(quiet)
		case <-silence.C:
			if r.Frozen {
				continue
			}
			at := time.Since(start)
			if n := len(r.Pokes); n > 0 && !r.Pokes[n-1].Resumed && sawDone != nil {
				// Silent since the last poke as well: the guest is
				// frozen. Its tasks' stacks, then qemu's end.
				r.Frozen, timedOut = true, true
				err := injectNMI(spec.QMP)
				spec.Logf("the guest printed nothing for %v after the poke either: frozen; sent it an NMI for a dump of its tasks (err %v)", quiet, err)
				if err != nil {
					kill()
				} else {
					time.AfterFunc(nmiGrace, kill)
				}
				limit.Stop()
				silence.Stop()
				continue
			}
			r.Pokes = append(r.Pokes, poke{At: at})
			_, err := io.WriteString(stdin, "\n")
			spec.Logf("the guest printed nothing for %v: poked its serial input at %v (err %v)", quiet, at.Round(time.Second), err)
			silence.Reset(quiet)
		case <-limit.C:
			if sawDone == nil {
				continue // DONE came; qemu is being stopped
			}
			timedOut = true
			err := injectNMI(spec.QMP)
			spec.Logf("time limit %v: sent the guest an NMI for a dump of its tasks (err %v)", spec.Timeout, err)
			if err != nil {
				kill()
			}
		}
	}
}

// injectNMI asks qemu, over its QMP socket, to send the guest an NMI.
func injectNMI(socket string) error {
	if socket == "" {
		return errors.New("no QMP socket")
	}
	c, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	// The greeting, then one answer per command.
	for _, cmd := range []string{"", `{"execute":"qmp_capabilities"}`, `{"execute":"inject-nmi"}`} {
		if cmd != "" {
			if _, err := io.WriteString(c, cmd+"\n"); err != nil {
				return err
			}
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.Contains(line, `"error"`) {
			return fmt.Errorf("qmp %s: %s", cmd, strings.TrimSpace(line))
		}
	}
	return nil
}

func (r *vmRun) add(line string, at time.Duration) {
	l, ok, err := wire.ParseLine(line)
	if !ok {
		return
	}
	if r.FirstRecord == 0 {
		r.FirstRecord = at
	}
	if err != nil {
		r.BadLines = append(r.BadLines, err)
		return
	}
	switch {
	case l.Result != nil:
		r.Results = append(r.Results, *l.Result)
	case l.Info != nil:
		r.Infos = append(r.Infos, *l.Info)
	case l.ITest != nil:
		r.ITest = append(r.ITest, *l.ITest)
	case l.Done != nil:
		if r.Done == nil {
			r.Done = l.Done
			r.DoneAt = at
		}
	}
}

// tailFile returns the last n lines of a console log for a failure
// message, leaving out the passing checks.
func tailFile(p string, n int) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p, err)
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, `"status":"pass"`) {
			keep = append(keep, l)
		}
	}
	return lastLines(strings.Join(keep, "\n"), n)
}

// buildResult is the outcome of one go build.
type buildResult struct {
	Out string
	Err error
	Dur time.Duration
}

// goBuild runs "go <args>" with CGO_ENABLED=0 in dir.
func goBuild(goBin, dir string, args ...string) error {
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, lastLines(string(out), 30))
	}
	return nil
}

// hasGoFiles reports whether dir holds any .go file.
func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

var errNoPackage = errors.New("package absent")

package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ReaderTimeout bounds every reader process the helpers run: a hung FUSE
// request fails the test instead of hanging it. 10 000 opens in the v2 VM
// took over 30 s while the host was busy with other builds.
const ReaderTimeout = 60 * time.Second

// joinScript is run by sh as "sh -c joinScript sh N file1..fileN cmd args":
// it writes its own pid into the N cgroup.procs files, then execs cmd, so
// cmd runs entirely inside the cgroup. $$ is the pid in the shell's own pid
// namespace, which is how the kernel reads a pid written to cgroup.procs.
const joinScript = `n=$1; shift
while [ "$n" -gt 0 ]; do
	echo $$ > "$1" || { echo "testenv: cannot join cgroup via $1" >&2; exit 125; }
	shift; n=$((n-1))
done
exec "$@"`

// joinArgv is the argv of a process that joins cg and then execs argv.
func joinArgv(cg *Cgroup, argv []string) []string {
	files := cg.ProcsFiles()
	out := []string{"sh", "-c", joinScript, "sh", strconv.Itoa(len(files))}
	out = append(out, files...)
	return append(out, argv...)
}

// Start starts argv inside cg (moving itself in before exec) and returns
// at once; stdout and stderr go to the given writers (nil: discarded).
// Cleanup kills it if it is still running.
func (cg *Cgroup) Start(stdout, stderr io.Writer, argv ...string) (*os.Process, error) {
	full := joinArgv(cg, argv)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	p, err := cg.tree.start(cmd)
	if err != nil {
		return nil, err
	}
	return p.cmd.Process, nil
}

// Run runs argv inside cg and returns its output. It waits at most
// ReaderTimeout.
func (cg *Cgroup) Run(argv ...string) (stdout, stderr string, err error) {
	return cg.run(nil, argv)
}

// Do runs a reader inside cg that performs ops (see Op) and returns one
// Result per op. The error is about running the reader; failed calls are
// in the Results. The reader is this test binary run again (see Main):
// about 20 MB resident, 40 MB with -race, which a memory limit must leave
// room for, per concurrent reader.
func (cg *Cgroup) Do(ops ...Op) ([]Result, error) {
	return cg.do(nil, ops)
}

// ReadFile reads path from a reader inside cg.
func (cg *Cgroup) ReadFile(path string) (string, error) {
	return readVia(cg.Do, path)
}

// MustRead reads path from a reader inside cg, failing the test on error.
func (cg *Cgroup) MustRead(path string) string {
	cg.t.Helper()
	s, err := cg.ReadFile(path)
	if err != nil {
		cg.t.Fatal(err)
	}
	return s
}

func readVia(do func(...Op) ([]Result, error), path string) (string, error) {
	res, err := do(Read(path))
	if err != nil {
		return "", err
	}
	if err := res[0].Error(); err != nil {
		return "", err
	}
	return string(res[0].Data[0]), nil
}

// run runs prefix + joinArgv(cg, argv). prefix enters namespaces
// (nsenter); the process that ends up in cg is the one after it.
func (cg *Cgroup) run(prefix []string, argv []string, env ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ReaderTimeout)
	defer cancel()
	full := append(append([]string(nil), prefix...), joinArgv(cg, argv)...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.WaitDelay = time.Second
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	p, err := cg.tree.start(cmd)
	if err != nil {
		return "", "", err
	}
	err = p.wait()
	if ctx.Err() != nil {
		err = fmt.Errorf("reader timed out after %v: %w", ReaderTimeout, err)
	}
	return out.String(), errb.String(), err
}

func (cg *Cgroup) do(prefix []string, ops []Op) ([]Result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	stdout, stderr, err := cg.run(prefix, []string{self}, helperEnv+"="+string(spec))
	if err != nil {
		return nil, fmt.Errorf("reader in %s: %w; stderr: %s", cg.rel, err, strings.TrimSpace(stderr))
	}
	if len(ops) > 0 && ops[len(ops)-1].Kind == OpVanish {
		return nil, nil
	}
	var res []Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		return nil, fmt.Errorf("reader in %s: bad output: %w; stderr: %s", cg.rel, err, strings.TrimSpace(stderr))
	}
	if len(res) != len(ops) {
		return nil, fmt.Errorf("reader in %s: %d results for %d ops", cg.rel, len(res), len(ops))
	}
	return res, nil
}

// proc is a process started by the harness; its Wait runs in a goroutine.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (p *proc) wait() error {
	<-p.done
	return p.err
}

// start starts cmd, waits for it in the background and registers it with
// the tree, so that cleanup kills it if the test leaves it running.
func (tr *cgTree) start(cmd *exec.Cmd) (*proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// If the test binary dies, so do its readers.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tr.track(&member{pid: cmd.Process.Pid, kill: cmd.Process.Kill, done: p.done})
	return p, nil
}

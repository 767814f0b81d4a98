package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A reader is a short-lived process born in a cgroup (clone3 with
// CLONE_INTO_CGROUP, so it never runs anywhere else) that performs a list
// of operations on the lxcfs-go mount and prints the outcome as JSON:
//
//	cat:PATH   read the whole file
//	ls:PATH    list a directory (names, "/" appended to directories)

// opResult is the outcome of one operation.
type opResult struct {
	Text  string   `json:"text,omitempty"`
	Names []string `json:"names,omitempty"`
	Err   string   `json:"err,omitempty"`
}

// readOut is what a reader prints.
type readOut struct {
	PID    int                 `json:"pid"`
	Cgroup string              `json:"cgroup"` // from /proc/self/cgroup
	Ops    map[string]opResult `json:"ops"`
}

func (o readOut) get(op string) (string, error) {
	r, ok := o.Ops[op]
	if !ok {
		return "", fmt.Errorf("%s: not performed", op)
	}
	if r.Err != "" {
		return "", fmt.Errorf("%s", r.Err)
	}
	return r.Text, nil
}

func (o readOut) list(op string) ([]string, error) {
	r, ok := o.Ops[op]
	if !ok {
		return nil, fmt.Errorf("%s: not performed", op)
	}
	if r.Err != "" {
		return nil, fmt.Errorf("%s", r.Err)
	}
	return r.Names, nil
}

func performOps(ops []string) readOut {
	out := readOut{PID: os.Getpid(), Ops: map[string]opResult{}}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		out.Cgroup = strings.TrimSpace(string(b))
	}
	for _, op := range ops {
		kind, p, _ := strings.Cut(op, ":")
		var r opResult
		switch kind {
		case "cat":
			b, err := os.ReadFile(p)
			r.Text = string(b)
			if err != nil {
				r.Err = err.Error()
			}
		case "ls":
			ents, err := os.ReadDir(p)
			if err != nil {
				r.Err = err.Error()
			}
			for _, e := range ents {
				n := e.Name()
				if e.IsDir() {
					n += "/"
				}
				r.Names = append(r.Names, n)
			}
			sort.Strings(r.Names)
		default:
			r.Err = "unknown operation " + kind
		}
		out.Ops[op] = r
	}
	return out
}

func readerMain(ops []string) int {
	if err := json.NewEncoder(os.Stdout).Encode(performOps(ops)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// spawn runs "/init <args>" born in the cgroup rel, optionally in a new pid
// namespace, and returns its stdout. Its stderr goes to the console.
func spawn(rel string, newPidNS bool, args ...string) ([]byte, error) {
	fd, err := unix.Open(cgPath(rel), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", rel, err)
	}
	defer unix.Close(fd)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/init", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if newPidNS {
		cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWPID
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		return stdout.Bytes(), fmt.Errorf("%s in %s: timed out after 60s (hung FUSE request?): %s", strings.Join(args, " "), rel, stderr.String())
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s in %s: %w: %s", args[0], rel, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// readIn runs a reader in the cgroup rel.
func readIn(rel string, ops ...string) (readOut, error) {
	b, err := spawn(rel, false, append([]string{"read"}, ops...)...)
	if err != nil {
		return readOut{}, err
	}
	var out readOut
	if err := json.Unmarshal(b, &out); err != nil {
		return readOut{}, fmt.Errorf("reader output %q: %w", b, err)
	}
	return out, nil
}

// ctSpec tells a container init what to do.
type ctSpec struct {
	// Ops the init performs itself.
	Ops []string `json:"ops"`
	// Readers are started by the init (so they are in its pid namespace),
	// each born in its cgroup.
	Readers []ctReader `json:"readers"`
}

type ctReader struct {
	Cgroup string   `json:"cgroup"` // relative to the cgroup root
	Ops    []string `json:"ops"`
}

type ctOut struct {
	Init    readOut   `json:"init"`
	Readers []readOut `json:"readers"`
	Errors  []string  `json:"errors,omitempty"`
}

// ctinitMain is the init (pid 1) of a container-like pid namespace.
func ctinitMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: ctinit JSON")
		return 2
	}
	var spec ctSpec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var out ctOut
	if os.Getpid() != 1 {
		out.Errors = append(out.Errors, fmt.Sprintf("ctinit: pid %d, want 1 (not in a new pid namespace)", os.Getpid()))
	}
	out.Init = performOps(spec.Ops)
	for _, r := range spec.Readers {
		ro, err := readIn(r.Cgroup, r.Ops...)
		if err != nil {
			out.Errors = append(out.Errors, err.Error())
		}
		out.Readers = append(out.Readers, ro)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 1
	}
	return 0
}

// runContainer starts a container init in a new pid namespace, born in the
// cgroup initCg (e.g. ct/init.scope), and returns what it and its readers
// saw, with the time the init ran.
func runContainer(initCg string, spec ctSpec) (ctOut, time.Duration, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return ctOut{}, 0, err
	}
	t0 := time.Now()
	raw, err := spawn(initCg, true, "ctinit", string(b))
	elapsed := time.Since(t0)
	if err != nil {
		return ctOut{}, elapsed, err
	}
	var out ctOut
	if err := json.Unmarshal(raw, &out); err != nil {
		return ctOut{}, elapsed, fmt.Errorf("ctinit output %q: %w", raw, err)
	}
	if len(out.Errors) > 0 {
		return out, elapsed, fmt.Errorf("ctinit: %s", strings.Join(out.Errors, "; "))
	}
	return out, elapsed, nil
}

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// repo is the repository root (tests run in tests/e2e).
func repo(t testing.TB, rel string) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, rel)
}

// uniqueName is "lxcfs-go-test-<random>": containers and the cgroups their
// runtimes create carry it, so leftovers are recognisable.
func uniqueName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return testenv.CgroupPrefix + hex.EncodeToString(b)
}

// command runs a program with a timeout and returns its combined output.
func command(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = nil
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// mustRun is command that fails the test on error.
func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := command(time.Minute, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tool is a program the tests run and the Debian package that has it.
type tool struct{ bin, pkg string }

var installMu sync.Mutex

// ensureTools installs the packages of missing tools with apt-get (running
// "apt-get update" only if the install fails), keeping their services from
// starting, and fails the test if a tool is still missing.
func ensureTools(t testing.TB, tools ...tool) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	var pkgs []string
	for _, tl := range tools {
		if _, err := exec.LookPath(tl.bin); err != nil {
			pkgs = append(pkgs, tl.pkg)
		}
	}
	if len(pkgs) == 0 {
		return
	}
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Fatalf("%v are missing and there is no apt-get to install them", pkgs)
	}
	// Without an init system invoke-rc.d already refuses to start services;
	// a policy-rc.d saying "no" makes sure (lxc-net would create a bridge).
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\n# lxcfs-go e2e tests: start no services\nexit 101\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(policy)
	}
	install := append([]string{"install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"}, pkgs...)
	t.Logf("installing %v", pkgs)
	if _, err := command(10*time.Minute, "apt-get", install...); err != nil {
		if _, uerr := command(5*time.Minute, "apt-get", "update", "-q"); uerr != nil {
			t.Fatalf("%v\napt-get update: %v", err, uerr)
		}
		if _, err := command(10*time.Minute, "apt-get", install...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tl := range tools {
		if _, err := exec.LookPath(tl.bin); err != nil {
			t.Fatalf("%s is still missing after installing %s", tl.bin, tl.pkg)
		}
	}
}

// docBlock returns the fenced code block that follows the line
// "<!-- e2e: NAME -->" in docs/PAGE. Pages mark every example a test runs
// this way, so the example is exactly what is tested.
func docBlock(t testing.TB, page, name string) string {
	t.Helper()
	b, err := os.ReadFile(repo(t, "docs/"+page))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- e2e: " + regexp.QuoteMeta(name) + " -->\\s*\n```[a-z]*\n(.*?)```")
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("docs/%s has no block marked <!-- e2e: %s --> followed by a fenced code block", page, name)
	}
	return string(m[1])
}

// hostCPU picks the highest CPU this process may run on: a container pinned
// to it sees one CPU whose number differs from 0 when the host has several.
func hostCPU(t testing.TB) int {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpu = i
		}
	}
	if cpu < 0 {
		t.Fatal("no CPU in the affinity mask")
	}
	return cpu
}

// cgroupV1Memory reports whether the memory controller is on a v1
// hierarchy (v1 and hybrid hosts) rather than on cgroup2.
func cgroupV1Memory(t testing.TB) bool {
	t.Helper()
	layout, err := testenv.HostLayout()
	if err != nil {
		t.Fatal(err)
	}
	_, ok := layout.V1["memory"]
	return ok
}

// hostMemTotal is the host's MemTotal line value ("24683652 kB").
func hostMemTotal(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	return memTotal(string(b))
}

func memTotal(meminfo string) string {
	for _, line := range strings.Split(meminfo, "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// shell runs a command line inside a container and returns its output.
type shell func(cmdline string) (string, error)

// checkView checks what a container with a 192 MiB memory limit pinned to
// CPU cpu, started at most age ago, sees through the daemon's files. It reads
// them with cat, as users do; busybox's cat copies with sendfile(2).
func checkView(t *testing.T, sh shell, cpu int, age time.Duration) {
	t.Helper()
	read := func(path string) string {
		t.Helper()
		out, err := sh("cat " + path)
		if err != nil {
			t.Fatal(err)
		}
		if out == "" {
			// Tell a file that is empty from one that sendfile cannot copy.
			viaRead, _ := sh("head -c 1000000 " + path)
			t.Errorf("cat %s printed nothing; head (read(2)) printed %d bytes: "+
				"the file must also be readable with sendfile(2)/splice(2)", path, len(viaRead))
			return viaRead
		}
		return out
	}
	if got := memTotal(read("/proc/meminfo")); got != "196608 kB" {
		t.Errorf("/proc/meminfo MemTotal = %q, want 196608 kB (192 MiB)", got)
	}
	if n := regexp.MustCompile(`(?m)^processor\s*:`).FindAllStringIndex(read("/proc/cpuinfo"), -1); len(n) != 1 {
		t.Errorf("/proc/cpuinfo lists %d processors, want 1", len(n))
	}
	if got := strings.TrimSpace(read("/sys/devices/system/cpu/online")); got != strconv.Itoa(cpu) {
		t.Errorf("/sys/devices/system/cpu/online = %q, want %d (the one CPU of its cpuset)", got, cpu)
	}
	out := read("/proc/uptime")
	var up float64
	if _, err := fmt.Sscan(out, &up); err != nil {
		t.Fatalf("/proc/uptime %q: %v", out, err)
	}
	if limit := age.Seconds() + 2; up > limit {
		t.Errorf("/proc/uptime says %.2fs; the container started %.2fs ago", up, age.Seconds())
	}
	if out, err := sh("echo 1 > /proc/meminfo"); err == nil {
		t.Errorf("writing /proc/meminfo succeeded: %s", out)
	}
}

// hostUptime is the host's uptime in seconds.
func hostUptime(t testing.TB) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	var up float64
	fmt.Sscan(string(b), &up)
	return up
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

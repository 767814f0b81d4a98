package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// policyRCD is Debian's hook that invoke-rc.d asks before starting a
// service; exit code 101 means "no". Installing lxcfs must not start the
// system instance on /var/lib/lxcfs (and there is no systemd here).
const policyRCD = "/usr/sbin/policy-rc.d"

var reference struct {
	once    sync.Once
	path    string
	version string
	err     error
}

// EnsureReference returns the path of the reference lxcfs binary,
// installing Debian's lxcfs package with apt-get if it is missing ("apt-get
// update" only if the first install fails). Service start-up is suppressed
// with a temporary policy-rc.d, so the install neither hangs nor starts a
// system instance. Skips the test if it cannot be installed.
func EnsureReference(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	reference.once.Do(func() {
		reference.path, reference.err = ensureReference()
		if reference.err == nil {
			reference.version, reference.err = referenceVersion(reference.path)
		}
	})
	if reference.err != nil {
		t.Skipf("testenv: reference lxcfs unavailable: %v", reference.err)
	}
	return reference.path
}

// ReferenceVersion is the version the reference lxcfs prints with -v
// ("5.0.3"), after EnsureReference.
func ReferenceVersion(t testing.TB) string {
	t.Helper()
	EnsureReference(t)
	return reference.version
}

func ensureReference() (string, error) {
	if p, err := exec.LookPath("lxcfs"); err == nil {
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("lxcfs is not installed and there is no apt-get")
	}
	if _, err := os.Stat(policyRCD); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policyRCD, []byte("#!/bin/sh\n# written by lxcfs-go testenv while installing lxcfs\nexit 101\n"), 0o755); err != nil {
			return "", err
		}
		defer os.Remove(policyRCD)
	}
	install := func() error { return apt("install", "-y", "--no-install-recommends", "lxcfs") }
	if err := install(); err != nil {
		if uerr := apt("update"); uerr != nil {
			return "", fmt.Errorf("%v; apt-get update: %v", err, uerr)
		}
		if err := install(); err != nil {
			return "", err
		}
	}
	return exec.LookPath("lxcfs")
}

func apt(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// referenceVersion runs "lxcfs -v", which prints "5.0.3" with quotes on
// stderr.
func referenceVersion(bin string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -v: %w: %s", bin, err, out)
	}
	return strings.Trim(strings.TrimSpace(string(out)), `"`), nil
}

package main

import (
	"github.com/lxcfs-go/lxcfs-go/content"
	"github.com/lxcfs-go/lxcfs-go/fs"

	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want options
	}{
		{"plain", []string{"/var/lib/lxcfs"},
			options{mountpoint: "/var/lib/lxcfs", pidfile: "/run/lxcfs-go.pid"}},
		{"combined short options", []string{"-fu", "/m"},
			options{foreground: true, swapOff: true, mountpoint: "/m", pidfile: "/run/lxcfs-go.pid"}},
		{"short option with attached value", []string{"-fp/tmp/p", "/m"},
			options{foreground: true, pidfile: "/tmp/p", mountpoint: "/m"}},
		{"long options both forms", []string{"--pidfile=/a", "--runtime-dir", "/r", "--enable-cfs", "--disable-zswap", "/m"},
			options{pidfile: "/a", runtimeDir: "/r", cfs: true, zswapOff: true, mountpoint: "/m"}},
		{"runtime dir sets the default pid file", []string{"--runtime-dir", "/r", "/m"},
			options{runtimeDir: "/r", pidfile: "/r/lxcfs-go.pid", mountpoint: "/m"}},
		{"-o lists accumulate", []string{"-o", "allow_other,ro", "-o", "noexec", "/m"},
			options{fuseOpts: []string{"allow_other", "ro", "noexec"}, mountpoint: "/m", pidfile: "/run/lxcfs-go.pid"}},
		{"compat no-ops", []string{"-s", "--enable-pidfd", "-d", "/m"},
			options{debug: true, mountpoint: "/m", pidfile: "/run/lxcfs-go.pid"}},
		{"lxcfs 6 --enable-cgroup keeps the tree on", []string{"--enable-cgroup", "/m"},
			options{enableCgroup: true, mountpoint: "/m", pidfile: "/run/lxcfs-go.pid"}},
		{"--disable-cgroup", []string{"--disable-cgroup", "/m"},
			options{noCgroup: true, mountpoint: "/m", pidfile: "/run/lxcfs-go.pid"}},
		{"fuse-uring", []string{"--fuse-uring=on", "/m"},
			options{fuseURing: fs.URingOn, mountpoint: "/m", pidfile: "/run/lxcfs-go.pid"}},
		{"help needs no mountpoint", []string{"-h"}, options{help: true}},
		{"version", []string{"--version"}, options{version: true}},
		{"hidden roots", []string{"--procfs", "/p", "--sysfs=/s", "--cgroup-prefix", "/c", "/m"},
			options{procFS: "/p", sysFS: "/s", cgroupPrefix: "/c", mountpoint: "/m", pidfile: "/run/lxcfs-go.pid"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.want.snapshotTTL == 0 {
				c.want.snapshotTTL = content.DefaultSnapshotTTL
			}
			got, err := parseArgs(c.args)
			if err != nil {
				t.Fatal(err)
			}
			if !equalOptions(*got, c.want) {
				t.Errorf("parseArgs(%q) = %+v, want %+v", c.args, *got, c.want)
			}
		})
	}
}

// --snapshot-ttl takes a duration; 0 turns the sharing off.
func TestParseSnapshotTTL(t *testing.T) {
	for arg, want := range map[string]time.Duration{"--snapshot-ttl=0": 0, "--snapshot-ttl=250ms": 250 * time.Millisecond, "--snapshot-ttl=1s": time.Second} {
		got, err := parseArgs([]string{arg, "/m"})
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if got.snapshotTTL != want {
			t.Errorf("%s: ttl %v, want %v", arg, got.snapshotTTL, want)
		}
	}
}

func equalOptions(a, b options) bool {
	return reflect.DeepEqual(a, b) || (len(a.fuseOpts) == 0 && len(b.fuseOpts) == 0 && withoutOpts(a) == withoutOpts(b))
}

// withoutOpts makes options comparable with ==, for nil vs empty -o lists.
func withoutOpts(o options) string {
	o.fuseOpts = nil
	return fmt.Sprintf("%+v", o)
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--bogus", "/m"},
		{"-z", "/m"},
		{"-p"},
		{"--enable-cfs=yes", "/m"},
		{"/a", "/b"},
		{"--enable-cgroup", "--disable-cgroup", "/m"},
		{"--enable-cgroup=yes", "/m"},
		{"--fuse-uring=maybe", "/m"},
		{"--fuse-uring"},
		{"--snapshot-ttl=-1s", "/m"},
		{"--snapshot-ttl=100", "/m"},
		{"--snapshot-ttl"},
	} {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("parseArgs(%q) succeeded", args)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"-h"}, 0, "Usage: lxcfs-go", ""},
		{[]string{"-v"}, 0, "lxcfs-go ", ""},
		{[]string{}, 2, "", "missing mountpoint"},
		{[]string{"--nope", "/m"}, 2, "", "unknown option --nope"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out.String(), errb.String(), c.code, c.stdout, c.stderr)
		}
	}
}

func TestPidfileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pid")
	first, err := lockPidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", b)
	}
	// A second instance is a child process; if it wrongly took the lock it
	// would try to mount on a temp dir and serve, so it runs with a timeout.
	{
		var out bytes.Buffer
		code := runChild(t, path, &out)
		if code == 0 || !strings.Contains(out.String(), "locked by another running instance") {
			t.Fatalf("second instance: exit %d, %s", code, out.String())
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the second instance removed the first one's pid file: %v", err)
		}
	}
	first.release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pid file left after release: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// runChild runs this test binary as a second daemon on the same pid file;
// TestMain turns it into a call of run().
func runChild(t *testing.T, pidfile string, out *bytes.Buffer) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LXCFS_GO_RUN_MAIN=1", "LXCFS_GO_ARGS=-f\n-p\n"+pidfile+"\n"+t.TempDir())
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestMain(m *testing.M) {
	if os.Getenv("LXCFS_GO_RUN_MAIN") == "1" {
		os.Exit(run(strings.Split(os.Getenv("LXCFS_GO_ARGS"), "\n"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

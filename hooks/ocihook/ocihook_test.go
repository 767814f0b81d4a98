package ocihook

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	ro := func(src, dst string) Bind { return Bind{Source: src, Target: dst, ReadOnly: true} }
	tests := []struct {
		name   string
		daemon Daemon
		want   []Bind
	}{
		{
			name: "whole cpu view, pressure left out",
			daemon: Daemon{
				Dir:  "/var/lib/lxcfs",
				Proc: []string{"cpuinfo", "meminfo", "pressure", "uptime"},
				CPU:  []string{"cpu0", "online", "possible", "uevent"},
			},
			want: []Bind{
				ro("/var/lib/lxcfs/proc/cpuinfo", "proc/cpuinfo"),
				ro("/var/lib/lxcfs/proc/meminfo", "proc/meminfo"),
				ro("/var/lib/lxcfs/proc/uptime", "proc/uptime"),
				ro("/var/lib/lxcfs/sys/devices/system/cpu", "sys/devices/system/cpu"),
				{Source: "/var/lib/lxcfs", Target: "var/lib/lxcfs"},
			},
		},
		{
			name:   "only online served",
			daemon: Daemon{Dir: "/d", Proc: []string{"stat"}, CPU: []string{"online"}},
			want: []Bind{
				ro("/d/proc/stat", "proc/stat"),
				ro("/d/sys/devices/system/cpu/online", "sys/devices/system/cpu/online"),
				{Source: "/d", Target: "var/lib/lxcfs"},
			},
		},
		{
			name: "block device stat files after the sys directories",
			daemon: Daemon{Dir: "/d", Proc: []string{"diskstats"}, Node: true,
				Block: []Bind{ro("/d/sys/block/vda/stat", "sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/stat")}},
			want: []Bind{
				ro("/d/proc/diskstats", "proc/diskstats"),
				ro("/d/sys/devices/system/node", "sys/devices/system/node"),
				ro("/d/sys/block/vda/stat", "sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/stat"),
				{Source: "/d", Target: "var/lib/lxcfs"},
			},
		},
		{
			name:   "no cpu directory",
			daemon: Daemon{Dir: "/d", Proc: []string{"loadavg"}},
			want: []Bind{
				ro("/d/proc/loadavg", "proc/loadavg"),
				{Source: "/d", Target: "var/lib/lxcfs"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, Plan(tt.daemon)); diff != "" {
				t.Errorf("Plan() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	t.Parallel()
	good := `{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":4242,"bundle":"/b",
		"annotations":{"lxcfs-go.io/inject":"false"}}`
	s, err := ParseState(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	want := State{ID: "c1", Status: "creating", PID: 4242, Bundle: "/b",
		Annotations: map[string]string{InjectAnnotation: "false"}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("ParseState() mismatch (-want +got):\n%s", diff)
	}
	for name, in := range map[string]string{
		"not json":  "{",
		"no pid":    `{"id":"c","status":"creating","bundle":"/b"}`,
		"no bundle": `{"id":"c","status":"creating","pid":7}`,
	} {
		if _, err := ParseState(strings.NewReader(in)); err == nil {
			t.Errorf("%s: ParseState(%q) succeeded", name, in)
		}
	}
}

func TestOptedOut(t *testing.T) {
	t.Parallel()
	off := map[string]string{InjectAnnotation: "False"}
	if !OptedOut(State{Annotations: off}, Config{}) || !OptedOut(State{}, Config{Annotations: off}) {
		t.Error("an inject=false annotation does not opt out")
	}
	if OptedOut(State{Annotations: map[string]string{InjectAnnotation: "true"}}, Config{}) {
		t.Error("inject=true opts out")
	}
}

func TestRootPath(t *testing.T) {
	t.Parallel()
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	var c Config
	c.Root.Path = "rootfs"
	got, err := c.RootPath(bundle)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(filepath.Join(bundle, "rootfs"))
	if got != want {
		t.Errorf("RootPath() = %q, want %q", got, want)
	}
}

func TestLastMount(t *testing.T) {
	t.Parallel()
	const info = `22 1 0:21 / /proc rw,nosuid - proc proc rw
40 27 0:41 / /var/lib/lxcfs rw,nosuid,nodev,relatime - fuse.lxcfs lxcfs-go rw,user_id=0
41 40 0:42 / /var/lib/lxcfs rw shared:3 - tmpfs tmpfs rw
50 27 0:43 / /tmp/with\040space rw,relatime master:1 - fuse.lxcfs lxcfs-go rw
`
	tests := []struct{ mountpoint, want string }{
		{"/var/lib/lxcfs", "tmpfs"}, // the later mount hides the daemon
		{"/tmp/with space", "fuse.lxcfs"},
		{"/nowhere", ""},
	}
	for _, tt := range tests {
		got, err := lastMount(strings.NewReader(info), tt.mountpoint)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("lastMount(%q) = %q, want %q", tt.mountpoint, got, tt.want)
		}
	}
	if _, err := lastMount(strings.NewReader("1 2 3\n"), "/"); err == nil {
		t.Error("lastMount accepted a truncated line")
	}
}

func TestReadDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"proc/pressure", "sys/devices/system/cpu/cpu0"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"proc/meminfo", "sys/devices/system/cpu/online"} {
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	real, _ := filepath.EvalSymlinks(dir)
	mounted := "40 27 0:41 / " + real + " rw - fuse.lxcfs lxcfs-go rw\n"

	d, err := ReadDaemon(dir, strings.NewReader(mounted))
	if err != nil {
		t.Fatal(err)
	}
	want := Daemon{Dir: real, Proc: []string{"meminfo", "pressure"}, CPU: []string{"cpu0", "online"}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("ReadDaemon() mismatch (-want +got):\n%s", diff)
	}

	notMounted := "40 27 0:41 / " + real + " rw - tmpfs tmpfs rw\n"
	if _, err := ReadDaemon(dir, strings.NewReader(notMounted)); !errors.Is(err, ErrNotMounted) {
		t.Errorf("ReadDaemon on tmpfs: err = %v, want ErrNotMounted", err)
	}
	if _, err := ReadDaemon(filepath.Join(dir, "missing"), strings.NewReader(mounted)); !errors.Is(err, ErrNotMounted) {
		t.Errorf("ReadDaemon on a missing dir: err = %v, want ErrNotMounted", err)
	}
}

// TestBlockBinds: each stat file of the daemon's sys/block goes over the
// host device directory's real path; devices the host lacks are left out.
func TestBlockBinds(t *testing.T) {
	t.Parallel()
	dir, sys := t.TempDir(), t.TempDir()
	mk := func(root string, p ...string) {
		for _, f := range p {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, f), nil, 0o444); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk(dir, "sys/block/sda/stat", "sys/block/sda/sda1/stat", "sys/block/loop0/stat", "sys/block/gone/stat")
	mk(sys, "devices/pci0000:00/block/sda/stat", "devices/pci0000:00/block/sda/sda1/stat", "devices/virtual/block/loop0/stat")
	if err := os.MkdirAll(filepath.Join(sys, "block"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"sda": "../devices/pci0000:00/block/sda", "loop0": "../devices/virtual/block/loop0"} {
		if err := os.Symlink(target, filepath.Join(sys, "block", name)); err != nil {
			t.Fatal(err)
		}
	}
	ro := func(src, dst string) Bind { return Bind{Source: filepath.Join(dir, src), Target: dst, ReadOnly: true} }
	want := []Bind{
		ro("sys/block/loop0/stat", "sys/devices/virtual/block/loop0/stat"),
		ro("sys/block/sda/stat", "sys/devices/pci0000:00/block/sda/stat"),
		ro("sys/block/sda/sda1/stat", "sys/devices/pci0000:00/block/sda/sda1/stat"),
	}
	if diff := cmp.Diff(want, blockBinds(dir, sys)); diff != "" {
		t.Errorf("blockBinds() mismatch (-want +got):\n%s", diff)
	}
	if got := blockBinds(t.TempDir(), sys); len(got) != 0 {
		t.Errorf("a daemon without sys/block: %v", got)
	}
}

func TestMainUsage(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	if code := Main([]string{"-h"}, strings.NewReader(""), &bytes.Buffer{}, &stderr); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "createRuntime") {
		t.Errorf("-h output does not explain the stage:\n%s", stderr.String())
	}
	if code := Main([]string{"extra"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("an extra argument: exit %d, want 2", code)
	}
	if code := Main(nil, strings.NewReader("{"), &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
		t.Errorf("a bad state: exit %d, want 1", code)
	}
}

// A daemon that is not mounted must not stop the container: exit 0, say why.
func TestMainDaemonNotMounted(t *testing.T) {
	t.Parallel()
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	config, _ := json.Marshal(map[string]any{"root": map[string]any{"path": "rootfs"}})
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	state, _ := json.Marshal(State{ID: "c1", Status: "creating", PID: os.Getpid(), Bundle: bundle})
	logFile := filepath.Join(t.TempDir(), "hook.log")
	var stderr bytes.Buffer
	code := Main([]string{"--lxcfs-dir", t.TempDir(), "--log", logFile}, bytes.NewReader(state), &bytes.Buffer{}, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr.String())
	}
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{stderr.String(), string(logged)} {
		if !strings.Contains(out, "c1: lxcfs-go is not mounted") || !strings.Contains(out, "host's /proc") {
			t.Errorf("message does not say the daemon is missing:\n%s", out)
		}
	}
}

func TestMainRefusesContainerPIDNamespace(t *testing.T) {
	t.Parallel()
	state := `{"id":"c","status":"created","pid":1,"bundle":"/b"}`
	var stderr bytes.Buffer
	if code := Main(nil, strings.NewReader(state), &bytes.Buffer{}, &stderr); code != 1 {
		t.Errorf("pid 1: exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "createRuntime") {
		t.Errorf("pid 1: message does not name the stage to use:\n%s", stderr.String())
	}
}

// Package debroot gives tests a Debian root filesystem: made once with
// debootstrap from the mirror apt uses, cached under CacheDir by what it
// holds, and handed to each test as an overlay of its own, so the cache
// stays pristine. tests/realsystemd boots one under systemd-nspawn;
// tests/realtools runs real tools in one.
package debroot

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
	"golang.org/x/sys/unix"
)

// CacheDir holds the debootstrapped rootfs trees, one per Spec.
const CacheDir = "/var/cache/lxcfs-go-test"

// rootfsFormat is part of every cache key: bump it when what
// finishRootfs does to a fresh tree changes, so that old caches are not
// reused.
const rootfsFormat = 1

// Spec is what debootstrap is asked for. A suite that needs more
// (procps, sysstat, python3-psutil for a real-tools suite, say) gets a
// cache of its own, since the packages are part of the key.
type Spec struct {
	Suite    string // Debian release, e.g. "bookworm"
	Variant  string // debootstrap --variant
	Packages []string
}

// name is the cache directory's name: rootfs-<suite>-<hash of the spec>.
func (s Spec) name() string {
	pkgs := slices.Clone(s.Packages)
	slices.Sort(pkgs)
	sum := sha256.Sum256(fmt.Appendf(nil, "format=%d suite=%s variant=%s packages=%s",
		rootfsFormat, s.Suite, s.Variant, strings.Join(pkgs, ",")))
	return "rootfs-" + s.Suite + "-" + hex.EncodeToString(sum[:])[:12]
}

// Cached returns the cached rootfs for spec, debootstrapping it
// first if there is none. The tree is built in a temporary directory next
// to its final place and renamed into place when complete, so a killed
// debootstrap never leaves a cache that looks whole; a lock file keeps two
// test processes from building the same tree at once. The cache must stay
// pristine: tests boot an overlay over it (Overlay).
func Cached(t testing.TB, spec Spec) string {
	t.Helper()
	dir := filepath.Join(CacheDir, spec.name())
	if isRootfs(dir) {
		return dir
	}
	if err := os.MkdirAll(CacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock := lockFile(t, filepath.Join(CacheDir, "."+spec.name()+".lock"), 30*time.Minute)
	defer unlock()
	if isRootfs(dir) { // built by another process while we waited
		return dir
	}
	// Under the lock, any temporary tree is a killed run's.
	stale, _ := filepath.Glob(filepath.Join(CacheDir, "."+spec.name()+".tmp-*"))
	for _, s := range stale {
		if err := removeTree(s); err != nil {
			t.Fatalf("removing a half-built rootfs: %v", err)
		}
	}
	mirror, err := aptMirror(spec.Suite)
	if err != nil {
		t.Fatalf("no Debian mirror for debootstrap: %v", err)
	}
	tmp, err := os.MkdirTemp(CacheDir, "."+spec.name()+".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := os.Stat(tmp); err == nil {
			if err := removeTree(tmp); err != nil {
				t.Errorf("removing %s: %v", tmp, err)
			}
		}
	}()
	// 0755 as a root directory has (MkdirTemp makes 0700).
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("no cached rootfs %s: debootstrap %s (%s, %s) from %s (a minute or two)",
		dir, spec.Suite, spec.Variant, strings.Join(spec.Packages, ","), mirror)
	started := time.Now()
	if err := debootstrap(spec, mirror, tmp); err != nil {
		t.Fatal(err)
	}
	if err := finishRootfs(tmp, spec, mirror); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("debootstrap took %v; cached in %s", time.Since(started).Round(time.Second), dir)
	return dir
}

// isRootfs reports whether dir is a complete cached tree (it only ever
// appears complete: see Cached).
func isRootfs(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "usr/lib/os-release"))
	return err == nil
}

// lockFile takes an exclusive flock on path, waiting up to timeout, and
// returns the function that releases it.
func lockFile(t testing.TB, path string, timeout time.Duration) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("lock %s: %v (another test process building the rootfs for %v?)", path, err, timeout)
		}
		time.Sleep(time.Second)
	}
}

// debootstrap builds spec into dir (which exists and is empty).
func debootstrap(spec Spec, mirror, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	args := []string{"--variant=" + spec.Variant, "--include=" + strings.Join(spec.Packages, ","),
		spec.Suite, dir, mirror}
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	// debootstrap is a shell script that starts dpkg, chroot, wget...: on
	// timeout kill its whole process group, not just the script.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		// debootstrap's own log has the reason when dpkg failed.
		detail, _ := os.ReadFile(filepath.Join(dir, "debootstrap/debootstrap.log"))
		return fmt.Errorf("debootstrap %s: %w\n%s\n%s", strings.Join(args, " "), err, Tail(string(out), 40), Tail(string(detail), 40))
	}
	return nil
}

// finishRootfs trims a fresh tree and records where it came from.
func finishRootfs(dir string, spec Spec, mirror string) error {
	// The downloaded .debs are 80 MB nobody needs again.
	debs, _ := filepath.Glob(filepath.Join(dir, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		if err := os.Remove(d); err != nil {
			return err
		}
	}
	// debootstrap unmounts what it mounted in the target; make sure,
	// before the tree is renamed (a mount would keep the old path).
	if mounts := MountsBelow(dir); len(mounts) > 0 {
		return fmt.Errorf("debootstrap left mounts in %s: %v", dir, mounts)
	}
	note := fmt.Sprintf("lxcfs-go test rootfs\nsuite=%s variant=%s packages=%s\nmirror=%s\nbuilt=%s\n",
		spec.Suite, spec.Variant, strings.Join(spec.Packages, ","), mirror, time.Now().UTC().Format(time.RFC3339))
	return os.WriteFile(filepath.Join(dir, "etc/lxcfs-go-test-rootfs"), []byte(note), 0o644)
}

// removeTree deletes a tree a killed debootstrap may have left mounts in
// (proc, sys, binds of /dev nodes): those are detached first, so that
// RemoveAll only ever deletes the tree's own files.
func removeTree(dir string) error {
	mounts := MountsBelow(dir)
	for i := len(mounts) - 1; i >= 0; i-- { // deepest (latest) first
		if err := unix.Unmount(mounts[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", mounts[i], err)
		}
	}
	if left := MountsBelow(dir); len(left) > 0 {
		return fmt.Errorf("still mounted below %s: %v", dir, left)
	}
	return os.RemoveAll(dir)
}

// MountsBelow lists the mount points of this mount namespace at or below
// dir, in mountinfo order.
func MountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	mounts, err := testenv.ParseMountinfo(f)
	if err != nil {
		return nil
	}
	dir = filepath.Clean(dir)
	var below []string
	for _, m := range mounts {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") {
			below = append(below, m.MountPoint)
		}
	}
	return below
}

// aptMirror is the URI of the first enabled "deb" source of suite with the
// main component in apt's configuration (sources.list, then
// sources.list.d/*.list and *.sources in apt's order): the mirror this host
// already uses and can reach. Nothing is hard-coded.
func aptMirror(suite string) (string, error) {
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	slices.Sort(more)
	files = append(files, more...)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		var entries []aptSource
		switch {
		case strings.HasSuffix(file, ".sources"):
			entries = parseDeb822Sources(string(b))
		case strings.HasSuffix(file, ".list"):
			entries = parseOneLineSources(string(b))
		default:
			continue // apt ignores other names (*.disabled, *.save)
		}
		for _, e := range entries {
			if slices.Contains(e.types, "deb") && slices.Contains(e.suites, suite) && slices.Contains(e.components, "main") {
				for _, u := range e.uris {
					if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
						return strings.TrimRight(u, "/"), nil
					}
				}
			}
		}
	}
	return "", fmt.Errorf("no enabled \"deb\" source for %s main over http(s) in /etc/apt/sources.list{,.d/}", suite)
}

// aptSource is one source entry, in either format.
type aptSource struct {
	types, uris, suites, components []string
}

// parseOneLineSources parses the one-line format:
// "deb [options] URI SUITE COMPONENT...".
func parseOneLineSources(text string) []aptSource {
	var out []aptSource
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], "[") { // [arch=amd64 signed-by=...]
			end := slices.IndexFunc(f[1:], func(s string) bool { return strings.HasSuffix(s, "]") })
			if end < 0 {
				continue
			}
			f = append(f[:1], f[end+2:]...)
		}
		if len(f) < 4 {
			continue
		}
		out = append(out, aptSource{types: f[:1], uris: f[1:2], suites: f[2:3], components: f[3:]})
	}
	return out
}

// parseDeb822Sources parses the deb822 format: stanzas of "Key: value"
// separated by blank lines; a line starting with a space continues the
// previous value; "Enabled: no" turns a stanza off.
func parseDeb822Sources(text string) []aptSource {
	var out []aptSource
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) > 0 && !strings.EqualFold(fields["enabled"], "no") {
			out = append(out, aptSource{
				types:      strings.Fields(fields["types"]),
				uris:       strings.Fields(fields["uris"]),
				suites:     strings.Fields(fields["suites"]),
				components: strings.Fields(fields["components"]),
			})
		}
		fields, last = map[string]string{}, ""
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if ok {
				last = strings.ToLower(strings.TrimSpace(k))
				fields[last] = strings.TrimSpace(v)
			}
		}
	}
	flush()
	return out
}

// Overlay mounts an overlay with the cached tree lower as its lower
// layer and upper and work directories in a temporary directory, and
// returns the merged directory: a test's own writable copy of the rootfs
// in no time, while the cache stays pristine. Cleanup unmounts it (after
// the container that used it is gone: cleanups run last-registered first).
func Overlay(t testing.TB, lower string) string {
	t.Helper()
	dir := t.TempDir()
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "root")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay on %s (%s): %v", merged, opts, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, 0); err != nil {
			t.Errorf("unmount %s: %v; detaching it", merged, err)
			_ = unix.Unmount(merged, unix.MNT_DETACH)
		}
		if left := MountsBelow(dir); len(left) > 0 {
			t.Errorf("mounts left below %s: %v", dir, left)
		}
	})
	return merged
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"[...]"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

package v2vm

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// errUnavailable marks a prerequisite (qemu, the kernel package, busybox)
// that cannot be had on this machine: the test skips instead of failing.
var errUnavailable = errors.New("unavailable")

// wantedModule is a module the guest needs, with the parameters it is
// loaded with. Dependencies are found from the modules' own .modinfo.
type wantedModule struct {
	name   string // module name, '-' and '_' equivalent
	params string
}

// wantedModules are loaded in this order (each after its dependencies).
// configfs is null_blk's dependency; lzo-rle and lzo are the compressors
// zram asks the crypto API for at run time (request_module cannot work
// without modprobe in the guest, so they are loaded up front).
var wantedModules = []wantedModule{
	{name: "fuse"},
	{name: "configfs"},
	{name: "null_blk", params: "nr_devices=1 queue_mode=2"},
	{name: "lzo_rle"},
	{name: "lzo"},
	{name: "zram", params: "num_devices=1"},
}

// kernel is a prepared guest kernel in the cache.
type kernel struct {
	Package string `json:"package"`
	Version string `json:"version"`
	// Release is the directory name under /lib/modules.
	Release string `json:"release"`
	// Vmlinuz, Config and module files are relative to Dir.
	Vmlinuz string `json:"vmlinuz"`
	Config  string `json:"config"`
	// Modules in load order, dependencies first.
	Modules []kmodule `json:"modules"`
	// Builtin lists wanted modules (or dependencies) built into the kernel.
	Builtin []string `json:"builtin"`
	// Missing lists wanted modules that are neither modules nor built in.
	Missing []string `json:"missing"`
	// Wanted is the wantedModules list the entry was made for; a change
	// re-extracts the entry.
	Wanted string `json:"wanted"`

	Dir string `json:"-"`
}

type kmodule struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Params string `json:"params,omitempty"`
}

const manifestName = "manifest.json"

func wantedKey() string {
	var parts []string
	for _, m := range wantedModules {
		parts = append(parts, m.name+"("+m.params+")")
	}
	return strings.Join(parts, ",")
}

// apt runs an apt tool and returns its stdout.
func apt(args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, lastLines(errb.String(), 5))
	}
	return out.String(), nil
}

// aptUpdated makes "apt-get update once if apt-get fails" hold per test
// process.
type aptState struct{ updated bool }

// withUpdate runs f; if it fails and apt-get update has not run yet (and we
// are root), it runs apt-get update and tries f again.
func (a *aptState) withUpdate(logf func(string, ...any), f func() error) error {
	err := f()
	if err == nil || a.updated || os.Geteuid() != 0 {
		return err
	}
	a.updated = true
	logf("apt: %v; running apt-get update once", err)
	if _, uerr := apt("apt-get", "update"); uerr != nil {
		return fmt.Errorf("%w (apt-get update also failed: %v)", err, uerr)
	}
	return f()
}

// candidate returns the package a metapackage depends on, and its
// candidate version.
func candidate(meta string) (pkg, version string, err error) {
	out, err := apt("apt-cache", "depends", meta)
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "|"))
		if dep, ok := strings.CutPrefix(line, "Depends: "); ok {
			pkg = strings.Trim(strings.TrimSpace(dep), "<>")
			break
		}
	}
	if pkg == "" {
		// Not a metapackage: use it as is.
		pkg = meta
	}
	version, err = candidateVersion(pkg)
	return pkg, version, err
}

func candidateVersion(pkg string) (string, error) {
	out, err := apt("apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("apt-cache show %s: no Version", pkg)
}

// download fetches pkg=version into dir with apt-get download and returns
// the .deb's path.
func download(dir, pkg, version string) (string, error) {
	args := []string{"apt-get", "download"}
	if os.Geteuid() == 0 {
		// Root downloads into a directory _apt may not be able to write;
		// apt warns and falls back anyway, this only keeps the log clean.
		args = append(args, "-o", "APT::Sandbox::User=root")
	}
	args = append(args, pkg+"="+version)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
	}
	matches, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(matches) == 0 {
		return "", fmt.Errorf("apt-get download %s: no .deb in %s", pkg, dir)
	}
	sort.Strings(matches)
	return matches[len(matches)-1], nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', ':', ' ':
			return '_'
		}
		return r
	}, s)
}

// lockCache takes an exclusive lock on the cache directory, so concurrent
// test runs do not extract into the same entry. Release by closing.
func lockCache(cache string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// prepareKernel returns the kernel of the candidate version of meta's
// dependency, downloading and extracting it into cache on first use.
// Without apt (offline, no lists) it falls back to the newest cached entry.
func prepareKernel(cache, meta string, a *aptState, logf func(string, ...any)) (*kernel, error) {
	lock, err := lockCache(cache)
	if err != nil {
		return nil, err
	}
	defer lock.Close()

	var pkg, version string
	aerr := a.withUpdate(logf, func() error {
		var err error
		pkg, version, err = candidate(meta)
		return err
	})
	if aerr != nil {
		if k, err := newestCached(cache); err == nil {
			logf("apt cannot resolve %s (%v); using cached %s %s", meta, aerr, k.Package, k.Version)
			return k, nil
		}
		return nil, fmt.Errorf("%w: kernel package %s: %v", errUnavailable, meta, aerr)
	}
	dir := filepath.Join(cache, "kernel", safeName(pkg+"_"+version))
	if k, err := loadManifest(dir); err == nil && k.Wanted == wantedKey() {
		return k, nil
	}

	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, err
	}
	deb := filepath.Join(debs, safeName(pkg+"_"+version)+".deb")
	if _, err := os.Stat(deb); err != nil {
		tmp, err := os.MkdirTemp(debs, "dl-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		var got string
		derr := a.withUpdate(logf, func() error {
			var err error
			got, err = download(tmp, pkg, version)
			return err
		})
		if derr != nil {
			return nil, fmt.Errorf("%w: %v", errUnavailable, derr)
		}
		if err := os.Rename(got, deb); err != nil {
			return nil, err
		}
	}
	return extractKernel(deb, dir, pkg, version)
}

func loadManifest(dir string) (*kernel, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	var k kernel
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, err
	}
	k.Dir = dir
	if _, err := os.Stat(filepath.Join(dir, k.Vmlinuz)); err != nil {
		return nil, err
	}
	return &k, nil
}

func newestCached(cache string) (*kernel, error) {
	entries, _ := filepath.Glob(filepath.Join(cache, "kernel", "*", manifestName))
	var best *kernel
	var bestTime int64
	for _, m := range entries {
		st, err := os.Stat(m)
		if err != nil {
			continue
		}
		k, err := loadManifest(filepath.Dir(m))
		if err != nil || k.Wanted != wantedKey() {
			continue
		}
		if best == nil || st.ModTime().UnixNano() > bestTime {
			best, bestTime = k, st.ModTime().UnixNano()
		}
	}
	if best == nil {
		return nil, fs.ErrNotExist
	}
	return best, nil
}

// extractKernel unpacks deb into a temporary directory and keeps only what
// the guest needs in dir: vmlinuz, config and the wanted modules with their
// dependencies. The manifest is written last, so a half-made entry is never
// used.
func extractKernel(deb, dir, pkg, version string) (*kernel, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".extract-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	x := filepath.Join(tmp, "x")
	if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("%w: dpkg-deb: %v", errUnavailable, err)
		}
		return nil, fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, out)
	}
	vmlinuzs, _ := filepath.Glob(filepath.Join(x, "boot", "vmlinuz-*"))
	if len(vmlinuzs) != 1 {
		return nil, fmt.Errorf("%s: want one boot/vmlinuz-*, found %d", deb, len(vmlinuzs))
	}
	release := strings.TrimPrefix(filepath.Base(vmlinuzs[0]), "vmlinuz-")
	modRoot := filepath.Join(x, "lib", "modules", release)
	if _, err := os.Stat(modRoot); err != nil {
		modRoot = filepath.Join(x, "usr", "lib", "modules", release) // merged-/usr packages
	}

	out := filepath.Join(tmp, "entry")
	if err := os.MkdirAll(filepath.Join(out, "modules"), 0o755); err != nil {
		return nil, err
	}
	k := &kernel{Package: pkg, Version: version, Release: release, Vmlinuz: "vmlinuz", Wanted: wantedKey()}
	if err := copyFile(vmlinuzs[0], filepath.Join(out, "vmlinuz")); err != nil {
		return nil, err
	}
	if err := copyFile(filepath.Join(x, "boot", "config-"+release), filepath.Join(out, "config")); err == nil {
		k.Config = "config"
	}
	mods, builtin, missing, err := resolveModules(modRoot, wantedModules)
	if err != nil {
		return nil, err
	}
	k.Builtin, k.Missing = builtin, missing
	for _, m := range mods {
		dst := filepath.Join("modules", m.Name+".ko")
		if err := unpackModule(m.File, filepath.Join(out, dst)); err != nil {
			return nil, err
		}
		k.Modules = append(k.Modules, kmodule{Name: m.Name, File: dst, Params: m.Params})
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, manifestName), b, 0o644); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(dir) // an entry made for another wanted list
	if err := os.Rename(out, dir); err != nil {
		return nil, err
	}
	k.Dir = dir
	return k, nil
}

func normMod(name string) string { return strings.ReplaceAll(name, "-", "_") }

// modName is the module name of a file name such as "lzo-rle.ko.xz".
func modName(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return normMod(base)
}

// resolveModules finds each wanted module and its dependencies (from the
// "depends=" entry of .modinfo; the package has no modules.dep, depmod makes
// it at install time) under modRoot, in load order. Built-in ones come from
// modules.builtin.
func resolveModules(modRoot string, wanted []wantedModule) (mods []kmodule, builtin, missing []string, err error) {
	files := map[string]string{}
	err = filepath.WalkDir(filepath.Join(modRoot, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			files[modName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	isBuiltin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(modRoot, "modules.builtin")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				isBuiltin[modName(l)] = true
			}
		}
	}
	params := map[string]string{}
	for _, w := range wanted {
		params[normMod(w.name)] = w.params
	}
	done := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		if done[name] {
			return nil
		}
		done[name] = true
		if isBuiltin[name] {
			builtin = append(builtin, name)
			return nil
		}
		f, ok := files[name]
		if !ok {
			missing = append(missing, name)
			return nil
		}
		deps, err := moduleDepends(f)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		mods = append(mods, kmodule{Name: name, File: f, Params: params[name]})
		return nil
	}
	for _, w := range wanted {
		if err := visit(normMod(w.name)); err != nil {
			return nil, nil, nil, err
		}
	}
	return mods, builtin, missing, nil
}

// moduleDepends reads "depends=" from a module's .modinfo section.
// Compressed modules are read through unpackModule's decompressors.
func moduleDepends(file string) ([]string, error) {
	data, err := moduleBytes(file)
	if err != nil {
		return nil, err
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	sec := ef.Section(".modinfo")
	if sec == nil {
		return nil, nil
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: .modinfo: %w", file, err)
	}
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					deps = append(deps, normMod(d))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

// moduleBytes returns a module's ELF bytes, decompressing .ko.xz/.ko.zst/
// .ko.gz with the system's tools (newer Debian kernels compress modules;
// bookworm's do not).
func moduleBytes(file string) ([]byte, error) {
	var tool []string
	switch {
	case strings.HasSuffix(file, ".ko"):
		return os.ReadFile(file)
	case strings.HasSuffix(file, ".xz"):
		tool = []string{"xz", "-dc", file}
	case strings.HasSuffix(file, ".zst"):
		tool = []string{"zstd", "-dcq", file}
	case strings.HasSuffix(file, ".gz"):
		tool = []string{"gzip", "-dc", file}
	default:
		return nil, fmt.Errorf("%s: unknown module compression", file)
	}
	out, err := exec.Command(tool[0], tool[1:]...).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(tool, " "), err)
	}
	return out, nil
}

func unpackModule(src, dst string) error {
	b, err := moduleBytes(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// isStaticELF reports whether file is an ELF executable without a program
// interpreter (statically linked).
func isStaticELF(file string) bool {
	ef, err := elf.Open(file)
	if err != nil {
		return false
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// prepareBusybox returns a static busybox: /bin/busybox when it is static
// (package busybox-static), else one extracted into the cache from the
// busybox-static package, so the host's busybox package is left alone.
func prepareBusybox(cache string, a *aptState, logf func(string, ...any)) (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if isStaticELF(p) {
			return p, nil
		}
	}
	lock, err := lockCache(cache)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	var version string
	if err := a.withUpdate(logf, func() error {
		var err error
		version, err = candidateVersion("busybox-static")
		return err
	}); err != nil {
		if m, _ := filepath.Glob(filepath.Join(cache, "busybox", "*", "busybox")); len(m) > 0 {
			return m[len(m)-1], nil
		}
		return "", fmt.Errorf("%w: busybox-static: %v", errUnavailable, err)
	}
	dir := filepath.Join(cache, "busybox", safeName(version))
	bb := filepath.Join(dir, "busybox")
	if isStaticELF(bb) {
		return bb, nil
	}
	tmp, err := os.MkdirTemp(cache, ".busybox-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	var deb string
	if err := a.withUpdate(logf, func() error {
		var err error
		deb, err = download(tmp, "busybox-static", version)
		return err
	}); err != nil {
		return "", fmt.Errorf("%w: busybox-static: %v", errUnavailable, err)
	}
	x := filepath.Join(tmp, "x")
	if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, p := range []string{"bin/busybox", "usr/bin/busybox"} {
		if isStaticELF(filepath.Join(x, p)) {
			if err := copyFile(filepath.Join(x, p), bb+".tmp"); err != nil {
				return "", err
			}
			if err := os.Chmod(bb+".tmp", 0o755); err != nil {
				return "", err
			}
			return bb, os.Rename(bb+".tmp", bb)
		}
	}
	return "", fmt.Errorf("%s: no static busybox inside", deb)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

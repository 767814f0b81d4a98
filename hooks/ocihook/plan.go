package ocihook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// InjectAnnotation opts a container out when it is "false". The Kubernetes
// webhook reads the same key on pods.
const InjectAnnotation = "lxcfs-go.io/inject"

// State is the part of the OCI runtime state that the hook reads.
type State struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	PID         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations"`
}

// Config is the part of a bundle's config.json that the hook reads.
type Config struct {
	Root struct {
		Path string `json:"path"`
	} `json:"root"`
	Annotations map[string]string `json:"annotations"`
}

// ParseState decodes the state the runtime writes on the hook's stdin.
func ParseState(r io.Reader) (State, error) {
	var s State
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return State{}, fmt.Errorf("bad OCI state on stdin: %w", err)
	}
	if s.PID <= 0 {
		return State{}, fmt.Errorf("the OCI state has no pid (status %q)", s.Status)
	}
	if s.Bundle == "" {
		return State{}, errors.New("the OCI state has no bundle")
	}
	return s, nil
}

// ReadConfig reads config.json of the bundle.
func ReadConfig(bundle string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("bad %s/config.json: %w", bundle, err)
	}
	if c.Root.Path == "" {
		return c, fmt.Errorf("%s/config.json has no root.path", bundle)
	}
	return c, nil
}

// RootPath is the absolute, symlink-free rootfs path of a bundle.
func (c Config) RootPath(bundle string) (string, error) {
	p := c.Root.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	return filepath.EvalSymlinks(p)
}

// OptedOut reports whether the container's annotations turn the hook off.
func OptedOut(s State, c Config) bool {
	return strings.EqualFold(s.Annotations[InjectAnnotation], "false") ||
		strings.EqualFold(c.Annotations[InjectAnnotation], "false")
}

// Daemon is what the daemon's directory offers.
type Daemon struct {
	// Dir is its mount point.
	Dir string
	// Proc lists the entries of Dir/proc, "pressure" included.
	Proc []string
	// CPU lists the entries of Dir/sys/devices/system/cpu; nil if absent.
	CPU []string
	// Node says Dir/sys/devices/system/node answers (lxcfs has no such
	// directory; a host kernel without NUMA support has none either).
	Node bool
	// Block binds each block device stat file the daemon serves
	// (Dir/sys/block/<disk>/stat, Dir/sys/block/<disk>/<part>/stat) over
	// the host sysfs file it stands for, at its real path (what
	// /sys/block/<disk> links to): the container's sysfs has the same
	// devices, and iostat reaches the file through /sys/block and
	// /sys/dev/block alike.
	Block []Bind
}

// Bind is one bind mount: Source on the host onto Target, a path relative to
// the container's rootfs.
type Bind struct {
	Source   string
	Target   string
	ReadOnly bool
}

// Plan lists the binds for a container, in the order they are made. The
// caller skips those whose target the rootfs lacks or has mounted already.
func Plan(d Daemon) []Bind {
	var binds []Bind
	for _, name := range d.Proc {
		if !vfiles.BoundByDefault(path.Join("proc", name)) {
			continue // pressure: refused by runc under /proc, see the package comment
		}
		binds = append(binds, Bind{
			Source:   path.Join(d.Dir, "proc", name),
			Target:   path.Join("proc", name),
			ReadOnly: true,
		})
	}
	const cpu = vfiles.CPUDir
	if slices.Contains(d.CPU, "uevent") {
		// The daemon serves a whole view of the directory.
		binds = append(binds, Bind{Source: path.Join(d.Dir, cpu), Target: cpu, ReadOnly: true})
	} else {
		for _, name := range d.CPU {
			binds = append(binds, Bind{
				Source:   path.Join(d.Dir, cpu, name),
				Target:   path.Join(cpu, name),
				ReadOnly: true,
			})
		}
	}
	if d.Node {
		const node = "sys/devices/system/node"
		binds = append(binds, Bind{Source: path.Join(d.Dir, node), Target: node, ReadOnly: true})
	}
	binds = append(binds, d.Block...)
	// Nesting: writable, so that the cgroup tree below it stays usable.
	return append(binds, Bind{Source: d.Dir, Target: "var/lib/lxcfs"})
}

// ErrNotMounted says that the daemon does not serve its directory.
var ErrNotMounted = errors.New("lxcfs-go is not mounted")

// ReadDaemon checks that the daemon is mounted at dir (the last mount there
// in mountinfo is of type fuse.lxcfs) and answers, and lists its files.
func ReadDaemon(dir string, mountinfo io.Reader) (Daemon, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return Daemon{}, fmt.Errorf("%w at %s: %w", ErrNotMounted, dir, err)
	}
	fstype, err := lastMount(mountinfo, real)
	if err != nil {
		return Daemon{}, err
	}
	if fstype != "fuse.lxcfs" {
		return Daemon{}, fmt.Errorf("%w at %s", ErrNotMounted, real)
	}
	d := Daemon{Dir: real}
	// A daemon that died leaves its mount behind: reads fail with ENOTCONN.
	if d.Proc, err = names(filepath.Join(real, "proc")); err != nil {
		return Daemon{}, fmt.Errorf("%w: the mount at %s does not answer: %w", ErrNotMounted, real, err)
	}
	d.CPU, err = names(filepath.Join(real, "sys/devices/system/cpu"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Daemon{}, fmt.Errorf("%w: the mount at %s does not answer: %w", ErrNotMounted, real, err)
	}
	_, err = os.Stat(filepath.Join(real, "sys/devices/system/node/online"))
	d.Node = err == nil
	d.Block = blockBinds(real, hostSys)
	return d, nil
}

// hostSys is the host's sysfs, where blockBinds finds the devices.
const hostSys = "/sys"

// blockBinds lists the daemon's block device stat files under dir, each
// with its target: the real path of the host's device directory below sys,
// relative to the container's rootfs. A file whose device the host lacks
// (it went away since the listing) is left out; a daemon without the
// files (lxcfs, older lxcfs-go) gives none.
func blockBinds(dir, sys string) []Bind {
	var binds []Bind
	if r, err := filepath.EvalSymlinks(sys); err == nil {
		sys = r
	}
	for _, pattern := range []string{"sys/block/*/stat", "sys/block/*/*/stat"} {
		srcs, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, src := range srcs {
			devDir := strings.TrimPrefix(filepath.Dir(src), filepath.Join(dir, "sys/block"))
			real, err := filepath.EvalSymlinks(filepath.Join(sys, "block", devDir))
			if err != nil {
				continue
			}
			rel, err := filepath.Rel(sys, real)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue
			}
			binds = append(binds, Bind{Source: src, Target: path.Join("sys", filepath.ToSlash(rel), "stat"), ReadOnly: true})
		}
	}
	return binds
}

func names(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, nil
}

// lastMount returns the file system type of the last mount at mountpoint in
// a mountinfo file, "" if there is none.
func lastMount(mountinfo io.Reader, mountpoint string) (string, error) {
	mounts, err := hostfs.ParseMountinfo(mountinfo)
	if err != nil {
		return "", err
	}
	fstype := ""
	for _, m := range mounts {
		if m.MountPoint == mountpoint {
			fstype = m.FSType
		}
	}
	return fstype, nil
}

package testenv

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Layout says where the cgroup hierarchies of a host are mounted.
type Layout struct {
	// V1 maps a v1 controller name ("memory", "cpu", "name=systemd") to the
	// mount point of the hierarchy that has it. Co-mounted controllers map
	// to the same directory.
	V1 map[string]string
	// Unified is the mount point of the cgroup2 hierarchy, "" if none.
	Unified string
}

// HostLayout reads the layout of this host from /proc/self/mountinfo.
func HostLayout() (Layout, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Layout{}, err
	}
	defer f.Close()
	return ParseLayout(f)
}

// Mount is one line of mountinfo, reduced to what the harness needs.
type Mount struct {
	Root, MountPoint, FSType, Source string
	SuperOptions                     []string
}

// ParseMountinfo parses /proc/<pid>/mountinfo.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+3 {
			return nil, fmt.Errorf("testenv: bad mountinfo line %q", sc.Text())
		}
		m := Mount{
			Root:       unescapeMountinfo(fields[3]),
			MountPoint: unescapeMountinfo(fields[4]),
			FSType:     fields[sep+1],
			Source:     unescapeMountinfo(fields[sep+2]),
		}
		if len(fields) > sep+3 {
			m.SuperOptions = strings.Split(fields[sep+3], ",")
		}
		mounts = append(mounts, m)
	}
	return mounts, sc.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// ParseLayout finds the cgroup hierarchies in mountinfo. Only mounts of a
// hierarchy's root are used (bind mounts of subdirectories are skipped); the
// first one wins.
func ParseLayout(r io.Reader) (Layout, error) {
	mounts, err := ParseMountinfo(r)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{V1: map[string]string{}}
	for _, m := range mounts {
		if m.Root != "/" {
			continue
		}
		switch m.FSType {
		case "cgroup2":
			if l.Unified == "" {
				l.Unified = m.MountPoint
			}
		case "cgroup":
			for _, o := range m.SuperOptions {
				switch o {
				case "rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec",
					"clone_children", "noprefix", "xattr", "cpuset_v2_mode":
					continue
				}
				if strings.HasPrefix(o, "release_agent=") {
					continue
				}
				if _, dup := l.V1[o]; !dup {
					l.V1[o] = m.MountPoint
				}
			}
		}
	}
	return l, nil
}

// v1Names maps the harness's controller names to v1 hierarchy names.
var v1Names = map[string]string{"io": "blkio"}

// v2Names maps the harness's controller names to cgroup2 controller names;
// cgroup2 has no cpuacct, its accounting is part of "cpu".
var v2Names = map[string]string{"cpuacct": "cpu", "blkio": "io"}

// hierarchyFor says where controller c (harness name: memory, cpu, cpuacct,
// cpuset, io) lives: a v1 mount point, or the unified mount point with the
// cgroup2 controller name.
func (l Layout) hierarchyFor(c string) (dir string, v2 bool, v2name string, err error) {
	name := c
	if n, ok := v1Names[c]; ok {
		name = n
	}
	if d, ok := l.V1[name]; ok {
		return d, false, "", nil
	}
	if l.Unified == "" {
		return "", false, "", fmt.Errorf("testenv: no hierarchy has controller %q", c)
	}
	name = c
	if n, ok := v2Names[c]; ok {
		name = n
	}
	avail, err := os.ReadFile(filepath.Join(l.Unified, "cgroup.controllers"))
	if err != nil {
		return "", false, "", err
	}
	if !slices.Contains(strings.Fields(string(avail)), name) {
		return "", false, "", fmt.Errorf("testenv: controller %q is neither a v1 hierarchy nor in %s/cgroup.controllers (%q)",
			c, l.Unified, strings.TrimSpace(string(avail)))
	}
	return l.Unified, true, name, nil
}

// PureV2 reports whether the host has no v1 hierarchy with a controller the
// harness uses.
func (l Layout) PureV2() bool {
	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "blkio"} {
		if _, ok := l.V1[c]; ok {
			return false
		}
	}
	return l.Unified != ""
}

package hostfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mountinfo is parsed here rather than with github.com/moby/sys/mountinfo
// (v0.7), which parses the same format well. Ours is about 100 lines that
// the daemon, remount, the hooks and the webhook share, and it fits what
// they need where moby's does not quite:
//
//   - the device is kept as the kernel prints it ("0:53"), which is how
//     remount and the hand-over compare connections (moby gives two ints);
//   - super options come split, for cgroup v1 controller names (moby gives
//     one string);
//   - every error wraps ErrParse for errors.Is (moby's are plain strings,
//     and it rejects the whole file on an escape it does not know, where
//     ours keeps the text verbatim);
//   - an empty source field (FUSE mounts without one) is "" here, as in
//     moby.
//
// Both stop at the first malformed line; the kernel never writes one.

// Mount is one line of /proc/<pid>/mountinfo (proc(5)).
type Mount struct {
	MountID  int
	ParentID int
	// Dev is the st_dev of files on the mount, "major:minor" as the kernel
	// prints it (a FUSE connection's device, for one).
	Dev string
	// Root is the path of the mounted directory inside its filesystem; for
	// cgroupfs it is the cgroup at the mount's root ("/" unless a sub-cgroup
	// was bind-mounted).
	Root string
	// MountPoint is where the mount is seen, with the kernel's octal
	// escapes (\040 and so on) decoded.
	MountPoint string
	// Options are the per-mount options ("rw", "nosuid", "relatime").
	Options []string
	// Optional are the optional fields ("shared:5", "master:2"); nil when
	// there are none.
	Optional []string
	FSType   string
	Source   string
	// SuperOptions are the per-superblock options after " - type source ";
	// for cgroup v1 they name the hierarchy's controllers.
	SuperOptions []string
}

// ReadMountinfo reads and parses a mountinfo file such as
// /proc/self/mountinfo.
func ReadMountinfo(name string) ([]Mount, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts, err := ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return mounts, nil
}

// ParseMountinfo parses the text of /proc/<pid>/mountinfo. Optional fields
// (shared:N, master:N) may be any in number; an empty source field is kept
// as ""; blank lines are skipped. A malformed line is an error wrapping
// ErrParse.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMountinfoLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: mountinfo line %d: %v", ErrParse, n, err)
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	return mounts, nil
}

func parseMountinfoLine(line string) (Mount, error) {
	before, after, ok := strings.Cut(line, " - ")
	if !ok {
		return Mount{}, fmt.Errorf("no \" - \" separator")
	}
	f := strings.Fields(before)
	if len(f) < 6 {
		return Mount{}, fmt.Errorf("%d fields before the separator, want at least 6", len(f))
	}
	var m Mount
	var err error
	if m.MountID, err = strconv.Atoi(f[0]); err != nil {
		return Mount{}, fmt.Errorf("bad mount id %q", f[0])
	}
	if m.ParentID, err = strconv.Atoi(f[1]); err != nil {
		return Mount{}, fmt.Errorf("bad parent id %q", f[1])
	}
	m.Dev = f[2]
	m.Root = UnescapeMountinfo(f[3])
	m.MountPoint = UnescapeMountinfo(f[4])
	m.Options = strings.Split(f[5], ",")
	if len(f) > 6 {
		m.Optional = f[6:]
	}
	// After the separator the kernel prints exactly "type source options";
	// the source may be empty, so split on single spaces.
	g := strings.Split(after, " ")
	if len(g) < 3 {
		return Mount{}, fmt.Errorf("%d fields after the separator, want 3", len(g))
	}
	m.FSType = UnescapeMountinfo(g[0])
	m.Source = UnescapeMountinfo(g[1])
	if opts := strings.Join(g[2:], " "); opts != "" {
		m.SuperOptions = strings.Split(opts, ",")
	}
	return m, nil
}

// UnescapeMountinfo decodes the \ooo octal escapes the kernel uses for
// space, tab, newline and backslash in mountinfo paths. Other backslashes
// are kept.
func UnescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

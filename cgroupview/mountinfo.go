package cgroupview

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Mount is one line of /proc/<pid>/mountinfo (proc(5)).
type Mount struct {
	MountID  int
	ParentID int
	// Root is the path of the mounted directory inside its filesystem; for
	// cgroupfs it is the cgroup at the mount's root ("/" unless a sub-cgroup
	// was bind-mounted).
	Root string
	// MountPoint is where the mount is seen, with the kernel's octal
	// escapes (\040 and so on) decoded.
	MountPoint string
	FSType     string
	Source     string
	// SuperOptions are the per-superblock options after " - type source ";
	// for cgroup v1 they name the hierarchy's controllers.
	SuperOptions []string
}

// ParseMountinfo parses the text of /proc/<pid>/mountinfo. Optional fields
// (shared:N, master:N) may be any in number; an empty source field is kept
// as "".
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
	m.Root = UnescapeMountinfo(f[3])
	m.MountPoint = UnescapeMountinfo(f[4])
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

// UnescapeMountinfo decodes the \ooo octal escapes the kernel uses for space,
// tab, newline and backslash in mountinfo paths.
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

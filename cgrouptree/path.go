package cgrouptree

import "strings"

// Vis is how a directory of a hierarchy appears to a caller.
type Vis int

const (
	// Hidden directories do not exist for the caller.
	Hidden Vis = iota
	// Ancestor directories lie on the path down to the caller's cgroup:
	// they show only the next step towards it.
	Ancestor
	// Inside is the caller's cgroup and everything below it.
	Inside
)

func (v Vis) String() string {
	switch v {
	case Ancestor:
		return "ancestor"
	case Inside:
		return "inside"
	}
	return "hidden"
}

// Clean reports whether p is a clean absolute cgroup path: "/" or "/a/b"
// with no empty, "." or ".." component and no NUL.
func Clean(p string) bool {
	if p == "/" {
		return true
	}
	if !strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
		return false
	}
	for c := range strings.SplitSeq(p[1:], "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// ValidName reports whether name can be one path component: not empty,
// not "." or "..", no '/' or NUL, at most 255 bytes.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= 255 &&
		strings.IndexByte(name, '/') < 0 && strings.IndexByte(name, 0) < 0
}

// Join returns dir/name for a clean dir and a valid name.
func Join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Parent returns the directory of a clean path p other than "/".
func Parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// Classify says how directory p appears to a caller whose cgroup is c;
// both are clean absolute paths relative to the hierarchy's mount root. An
// empty c means the caller has no cgroup in this hierarchy: only the root
// exists for it, and it shows nothing. For an Ancestor, next is the name of
// the one child it shows.
//
// Ancestry is by whole components: "/a/b" is not an ancestor of "/a/bc"
// (lxcfs compares string prefixes).
func Classify(c, p string) (v Vis, next string) {
	if !Clean(p) {
		return Hidden, ""
	}
	if c == "" || !Clean(c) {
		if p == "/" {
			return Ancestor, ""
		}
		return Hidden, ""
	}
	switch {
	case c == "/" || p == c:
		return Inside, ""
	case strings.HasPrefix(p, c+"/"):
		return Inside, ""
	case p == "/":
		next, _, _ = strings.Cut(c[1:], "/")
		return Ancestor, next
	case strings.HasPrefix(c, p+"/"):
		next, _, _ = strings.Cut(c[len(p)+1:], "/")
		return Ancestor, next
	}
	return Hidden, ""
}

// FileVisible reports whether a file named by the clean path p is visible
// to a caller whose cgroup is c: its directory must be Inside.
func FileVisible(c, p string) bool {
	if p == "/" || !Clean(p) {
		return false
	}
	v, _ := Classify(c, Parent(p))
	return v == Inside
}

// Relative returns the cgroup path p (as /proc/<pid>/cgroup prints it)
// relative to root, the cgroup at a mount's root (mountinfo's root field).
// ok is false when p is not clean or not at or below root.
func Relative(p, root string) (string, bool) {
	if !Clean(p) || !Clean(root) {
		return "", false
	}
	switch {
	case root == "/":
		return p, true
	case p == root:
		return "/", true
	}
	if rest, ok := strings.CutPrefix(p, root); ok && strings.HasPrefix(rest, "/") {
		return rest, true
	}
	return "", false
}

// rel is p as a path relative to the hierarchy root's fd.
func rel(p string) string {
	if p == "/" {
		return "."
	}
	return p[1:]
}

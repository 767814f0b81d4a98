package cgrouptree

import (
	"errors"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// FuzzClassify is the isolation property of the cgroup/ tree: a directory
// is Inside only at or below the caller's cgroup by whole components, an
// Ancestor only on the path down to it, and no path with "..", "." or an
// empty component is ever visible.
func FuzzClassify(f *testing.F) {
	for _, s := range [][2]string{
		{"/a/b", "/a/bc"}, {"/a/b", "/a"}, {"/a/b", "/a/b/c"}, {"/a", "/a/../b"},
		{"/", "/x"}, {"", "/"}, {"/a/b", "/"}, {"/a//b", "/a"}, {"/a/b", "/a/b/./c"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, c, p string) {
		v, next := Classify(c, p)
		below := Clean(p) && Clean(c) && (c == "/" || p == c || strings.HasPrefix(p, c+"/"))
		switch v {
		case Inside:
			if !below {
				t.Fatalf("Classify(%q, %q) = inside", c, p)
			}
		case Ancestor:
			if !Clean(p) {
				t.Fatalf("Classify(%q, %q) = ancestor of an unclean path", c, p)
			}
			if c != "" && Clean(c) {
				// Not ValidName: a component of a fuzzed c may pass 255
				// bytes, which no kernel cgroup name does.
				if !(p == "/" || strings.HasPrefix(c, p+"/")) || next == "" || next == "." || next == ".." || strings.Contains(next, "/") {
					t.Fatalf("Classify(%q, %q) = ancestor, next %q", c, p, next)
				}
				if child := Join(p, next); child != c && !strings.HasPrefix(c, child+"/") {
					t.Fatalf("Classify(%q, %q): next step %q leads elsewhere", c, p, child)
				}
			} else if p != "/" || next != "" {
				t.Fatalf("Classify(%q, %q) = ancestor %q for a caller without cgroup", c, p, next)
			}
		case Hidden:
			if below {
				t.Fatalf("Classify(%q, %q) = hidden, but it is at or below the caller's cgroup", c, p)
			}
		}
		if FileVisible(c, p) {
			if pv, _ := Classify(c, Parent(p)); pv != Inside || p == "/" {
				t.Fatalf("FileVisible(%q, %q) with parent %v", c, p, pv)
			}
		}
		if p != "/" && v != Hidden {
			for comp := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
				if comp == "" || comp == "." || comp == ".." || !strings.HasPrefix(p, "/") {
					t.Fatalf("Classify(%q, %q) = %v for an unclean path", c, p, v)
				}
			}
		}
	})
}

func FuzzRelative(f *testing.F) {
	f.Add("/lxc/c1", "/lxc")
	f.Add("/lxc", "/lxc")
	f.Add("/lxcx", "/lxc")
	f.Add("/../x", "/")
	f.Fuzz(func(t *testing.T, p, root string) {
		rel, ok := Relative(p, root)
		if !ok {
			return
		}
		if !Clean(rel) {
			t.Fatalf("Relative(%q, %q) = unclean %q", p, root, rel)
		}
		back := root
		if rel != "/" {
			if root == "/" {
				back = rel
			} else {
				back = root + rel
			}
		}
		if back != p {
			t.Fatalf("Relative(%q, %q) = %q, which joins back to %q", p, root, rel, back)
		}
	})
}

func checkParse(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, hostcgroup.ErrParse) {
		t.Fatalf("error %v does not wrap ErrParse", err)
	}
}

func FuzzParseProcFiles(f *testing.F) {
	f.Add([]byte("         0          0 4294967295\n"))
	f.Add([]byte("0 100000 65536\n65536 1 1\n"))
	f.Add([]byte("Name:\tsh\nTgid:\t42\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t1 2\nCapEff:\t000001ffffffffff\nNSpid:\t42\t1\n"))
	f.Add([]byte("1\n2\n3\n"))
	f.Add([]byte(" 0 \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseIDMap(b)
		checkParse(t, err)
		st, err := ParseStatus(b)
		checkParse(t, err)
		if err == nil && (st.TGID <= 0 || len(st.NSpid) == 0) {
			t.Fatalf("status %+v without error", st)
		}
		pids, err := ParsePids(b)
		checkParse(t, err)
		for _, p := range pids {
			if p <= 0 {
				t.Fatalf("pid %d", p)
			}
		}
		if n, ok := ParseWrittenPid(b); ok && n < 0 {
			t.Fatalf("written pid %d", n)
		}
	})
}

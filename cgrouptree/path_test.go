package cgrouptree

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, c, p string
		want       Vis
		next       string
	}{
		{"root caller sees all", "/", "/x/y", Inside, ""},
		{"root caller root", "/", "/", Inside, ""},
		{"own cgroup", "/a/b", "/a/b", Inside, ""},
		{"descendant", "/a/b", "/a/b/c/d", Inside, ""},
		{"hierarchy root is an ancestor", "/a/b", "/", Ancestor, "a"},
		{"ancestor shows next step", "/a/b/c", "/a", Ancestor, "b"},
		{"parent shows the cgroup", "/a/b", "/a", Ancestor, "b"},
		{"sibling hidden", "/a/b", "/a/c", Hidden, ""},
		// lxcfs's string-prefix test takes /a/bc for a descendant of /a/b.
		{"prefix sibling is not a descendant", "/a/b", "/a/bc", Hidden, ""},
		{"prefix sibling below", "/a/b", "/a/bc/d", Hidden, ""},
		// ... and /a/b for an ancestor of /a/bc.
		{"prefix is not an ancestor", "/a/bc", "/a/b", Hidden, ""},
		{"unrelated", "/a/b", "/z", Hidden, ""},
		{"dotdot never clean", "/a/b", "/a/b/..", Hidden, ""},
		{"dotdot inside", "/a/b", "/a/b/../c", Hidden, ""},
		{"dot", "/a/b", "/a/b/.", Hidden, ""},
		{"empty component", "/a/b", "/a/b//c", Hidden, ""},
		{"trailing slash", "/a/b", "/a/b/", Hidden, ""},
		{"relative", "/a/b", "a/b", Hidden, ""},
		{"no cgroup: root empty", "", "/", Ancestor, ""},
		{"no cgroup: nothing else", "", "/a", Hidden, ""},
		{"unclean caller", "/a/../b", "/b", Hidden, ""},
		{"unclean caller root", "/a/../b", "/", Ancestor, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, next := Classify(tc.c, tc.p)
			if v != tc.want || next != tc.next {
				t.Errorf("Classify(%q, %q) = %v %q, want %v %q", tc.c, tc.p, v, next, tc.want, tc.next)
			}
		})
	}
}

func TestFileVisible(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c, p string
		want bool
	}{
		{"/a/b", "/a/b/memory.max", true},
		{"/a/b", "/a/b/c/tasks", true},
		{"/a/b", "/a/tasks", false}, // files of ancestors are hidden
		{"/a/b", "/tasks", false},
		{"/a/b", "/a/bc/tasks", false},
		{"/", "/tasks", true},
		{"/a/b", "/", false},
		{"", "/tasks", false},
		{"/a/b", "/a/b/../x/tasks", false},
	} {
		if got := FileVisible(tc.c, tc.p); got != tc.want {
			t.Errorf("FileVisible(%q, %q) = %v, want %v", tc.c, tc.p, got, tc.want)
		}
	}
}

func TestRelative(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, root, want string
		ok            bool
	}{
		{"/a/b", "/", "/a/b", true},
		{"/a/b", "/a", "/b", true},
		{"/a", "/a", "/", true},
		{"/ab", "/a", "", false},
		{"/b", "/a", "", false},
		{"/../x", "/", "", false},
		{"/a//b", "/", "", false},
	} {
		got, ok := Relative(tc.p, tc.root)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Relative(%q, %q) = %q %v, want %q %v", tc.p, tc.root, got, ok, tc.want, tc.ok)
		}
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"memory.max": true, "a b": true, "": false, ".": false, "..": false,
		"a/b": false, "a\x00": false, strings.Repeat("x", 255): true, strings.Repeat("x", 256): false,
		"...": true,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCommonAncestor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b, want string }{
		{"/a/b", "/a/c", "/a"},
		{"/a/b", "/a/b/c", "/a/b"},
		{"/a/b/c", "/a/b", "/a/b"},
		{"/a/b", "/a/bc", "/a"},
		{"/x", "/y", "/"},
		{"/", "/y", "/"},
	} {
		if got := CommonAncestor(tc.a, tc.b); got != tc.want {
			t.Errorf("CommonAncestor(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

package cgrouptree

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const allCaps = 1<<41 - 1

// userns is the map of a user namespace with 65536 IDs from 100000.
var userns = IDMap{{Inside: 0, Outside: 100000, Count: 65536}}

func hostRoot() *Creds {
	return &Creds{UID: 0, GID: 0, CapEff: allCaps, UIDMap: InitMap, GIDMap: InitMap}
}

func hostUser(uid, gid uint32, groups ...uint32) *Creds {
	return &Creds{UID: uid, GID: gid, EUID: uid, Groups: groups, UIDMap: InitMap, GIDMap: InitMap}
}

func nsRootCreds() *Creds {
	return &Creds{UID: 100000, GID: 100000, EUID: 100000, CapEff: allCaps, UIDMap: userns, GIDMap: userns}
}

func TestMayAccess(t *testing.T) {
	t.Parallel()
	rootFile := File{Mode: 0o644, UID: 0, GID: 0}
	rootDir := File{Mode: 0o755, UID: 0, GID: 0, Dir: true}
	delegated := File{Mode: 0o644, UID: 100000, GID: 100000}
	delegatedDir := File{Mode: 0o755, UID: 100000, GID: 100000, Dir: true}
	mappedOther := File{Mode: 0o600, UID: 100033, GID: 100033}
	halfMapped := File{Mode: 0o600, UID: 100033, GID: 0}
	groupFile := File{Mode: 0o664, UID: 0, GID: 50}
	readOnly := File{Mode: 0o444, UID: 0, GID: 0}
	noCaps := nsRootCreds()
	noCaps.CapEff = 0
	for _, tc := range []struct {
		name string
		c    *Creds
		f    File
		want Access
		ok   bool
	}{
		{"host root writes root's file", hostRoot(), rootFile, W, true},
		{"host root writes anyone's file (DAC override)", hostRoot(), mappedOther, R | W, true},
		{"host root mkdir in a 0555 dir", hostRoot(), File{Mode: 0o555, Dir: true}, W | X, true},
		{"host root cannot execute a file without x bits", hostRoot(), rootFile, X, false},
		{"other reads root's file", hostUser(65534, 65534), rootFile, R, true},
		{"other cannot write root's file", hostUser(65534, 65534), rootFile, W, false},
		{"other cannot mkdir in root's dir", hostUser(65534, 65534), rootDir, W | X, false},
		{"other searches root's dir", hostUser(65534, 65534), rootDir, X, true},
		{"owner writes", hostUser(100000, 100000), delegated, W, true},
		{"group member writes a g+w file", hostUser(1000, 50), groupFile, W, true},
		{"supplementary group writes a g+w file", hostUser(1000, 1000, 7, 50), groupFile, W, true},
		{"not in the group", hostUser(1000, 1000, 7), groupFile, W, false},
		// Owner bits first: an owner without w does not fall back to
		// group or other bits, as in the kernel.
		{"owner bits win", hostUser(5, 5), File{Mode: 0o466, UID: 5, GID: 5}, W, false},
		{"ns root owns its delegated file", nsRootCreds(), delegated, W, true},
		{"ns root mkdir in its delegated dir", nsRootCreds(), delegatedDir, W | X, true},
		{"ns root over a mapped uid's file", nsRootCreds(), mappedOther, R | W, true},
		{"ns root not over a file whose group is unmapped", nsRootCreds(), halfMapped, W, false},
		{"ns root not over host root's file", nsRootCreds(), rootFile, W, false},
		{"ns root reads host root's file as other", nsRootCreds(), rootFile, R, true},
		{"ns root without the capability", noCaps, mappedOther, W, false},
		{"ns user (not root) is its uid", &Creds{UID: 100033, GID: 100033, UIDMap: userns, GIDMap: userns}, mappedOther, W, true},
		{"ns user cannot use another mapped uid's file", &Creds{UID: 100034, GID: 100034, UIDMap: userns, GIDMap: userns}, mappedOther, R, false},
		// Whether a 0444 file can be written at all is the real open's
		// business (kernfs refuses it even to root); the bits allow root.
		{"read-only file, other", hostUser(1, 1), readOnly, W, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MayAccess(tc.c, tc.f, tc.want); got != tc.ok {
				t.Errorf("MayAccess = %v, want %v", got, tc.ok)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestMayChmodChown(t *testing.T) {
	t.Parallel()
	delegated := File{Mode: 0o644, UID: 100000, GID: 100000}
	rootFile := File{Mode: 0o644}
	for _, tc := range []struct {
		name      string
		c         *Creds
		f         File
		uid, gid  *uint32
		chmod, ok bool
	}{
		{"owner chmods", hostUser(100000, 100000), delegated, nil, nil, true, true},
		{"other cannot chmod", hostUser(1, 1), delegated, nil, nil, false, true},
		{"ns root chmods a mapped file", nsRootCreds(), File{UID: 100005, GID: 100005}, nil, nil, true, true},
		{"ns root cannot chmod host root's", nsRootCreds(), rootFile, nil, nil, false, true},
		{"host root chowns", hostRoot(), rootFile, ptr[uint32](1000), ptr[uint32](1000), true, true},
		{"owner cannot give a file away", hostUser(100000, 100000), delegated, ptr[uint32](1), nil, true, false},
		{"owner chgrps to its group", hostUser(100000, 100000, 42), delegated, nil, ptr[uint32](42), true, true},
		{"owner cannot chgrp to a group it is not in", hostUser(100000, 100000), delegated, nil, ptr[uint32](42), true, false},
		{"owner no-op chown", hostUser(100000, 100000), delegated, ptr[uint32](100000), ptr[uint32](100000), true, true},
		{"other no-op chown refused", hostUser(1, 1), delegated, ptr[uint32](100000), nil, false, false},
		{"ns root chowns within its range", nsRootCreds(), File{UID: 100005, GID: 100005}, ptr[uint32](100006), ptr[uint32](100006), true, true},
		{"ns root cannot chown host root's", nsRootCreds(), rootFile, ptr[uint32](100000), nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MayChmod(tc.c, tc.f); got != tc.chmod {
				t.Errorf("MayChmod = %v, want %v", got, tc.chmod)
			}
			if got := MayChown(tc.c, tc.f, tc.uid, tc.gid); got != tc.ok {
				t.Errorf("MayChown = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestMayMoveV1(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		w    *Creds
		tgid int
		task Task
		ok   bool
	}{
		{"itself", hostUser(1000, 1000), 10, Task{TGID: 10, UID: 0, SUID: 0}, true},
		{"global root moves anyone", hostRoot(), 10, Task{TGID: 11, UID: 5, SUID: 5}, true},
		{"same uid", hostUser(1000, 1000), 10, Task{TGID: 11, UID: 1000, SUID: 1000}, true},
		{"saved uid", hostUser(1000, 1000), 10, Task{TGID: 11, UID: 0, SUID: 1000}, true},
		{"other uid", hostUser(1000, 1000), 10, Task{TGID: 11, UID: 1001, SUID: 1001}, false},
		// v1 compares with the global root: a user namespace's root is
		// its host uid there.
		{"ns root moves its own uid", nsRootCreds(), 10, Task{TGID: 11, UID: 100000, SUID: 100000}, true},
		{"ns root cannot move another mapped uid", nsRootCreds(), 10, Task{TGID: 11, UID: 100033, SUID: 100033}, false},
		{"ns root cannot move host root", nsRootCreds(), 10, Task{TGID: 11}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MayMoveV1(tc.w, tc.tgid, tc.task); got != tc.ok {
				t.Errorf("MayMoveV1 = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestParseIDMap(t *testing.T) {
	t.Parallel()
	m, err := ParseIDMap([]byte("         0     100000      65536\n     65536          1          1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(IDMap{{0, 100000, 65536}, {65536, 1, 1}}, m); diff != "" {
		t.Fatal(diff)
	}
	for _, tc := range []struct {
		id, in uint32
		ok     bool
	}{{100000, 0, true}, {165535, 65535, true}, {165536, 0, false}, {1, 65536, true}, {0, 0, false}} {
		in, ok := m.ToInside(tc.id)
		if in != tc.in || ok != tc.ok {
			t.Errorf("ToInside(%d) = %d %v, want %d %v", tc.id, in, ok, tc.in, tc.ok)
		}
	}
	if in, ok := InitMap.ToInside(4294967294); !ok || in != 4294967294 {
		t.Errorf("InitMap.ToInside(4294967294) = %d %v", in, ok)
	}
	if _, err := ParseIDMap([]byte("0 1\n")); err == nil {
		t.Error("a short line parsed")
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	st, err := ParseStatus([]byte("Name:\tsh\nTgid:\t4242\nPid:\t4243\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t6\t7\t8\nGroups:\t5 27 \nNSpid:\t4243\t12\t1\nCapEff:\t0000000000000002\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Status{TGID: 4242, UIDs: [4]uint32{1000, 1001, 1002, 1003}, GIDs: [4]uint32{5, 6, 7, 8}, Groups: []uint32{5, 27}, CapEff: 2, NSpid: []int{4243, 12, 1}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatal(diff)
	}
	for _, bad := range []string{"", "Tgid:\t1\nUid:\t0 0 0\nGid:\t0 0 0 0\nNSpid:\t1\n", "Tgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\n"} {
		if _, err := ParseStatus([]byte(bad)); err == nil {
			t.Errorf("ParseStatus(%q) succeeded", bad)
		}
	}
}

func TestParsePids(t *testing.T) {
	t.Parallel()
	pids, err := ParsePids([]byte("1\n22\n333\n"))
	if err != nil || !cmp.Equal(pids, []int{1, 22, 333}) {
		t.Fatalf("ParsePids = %v, %v", pids, err)
	}
	// The kernel never lists pid 0; lxcfs prints 0 for pids the reader
	// cannot see, which we never do (see the tree tests).
	if _, err := ParsePids([]byte("1\n0\n")); err == nil {
		t.Error("a 0 pid parsed")
	}
	for in, want := range map[string]int{"42": 42, " 42\n": 42, "0": 0, "0\n": 0} {
		if n, ok := ParseWrittenPid([]byte(in)); !ok || n != want {
			t.Errorf("ParseWrittenPid(%q) = %d %v", in, n, ok)
		}
	}
	for _, in := range []string{"", "-1", "1 2", "0x10", "abc", "99999999999"} {
		if _, ok := ParseWrittenPid([]byte(in)); ok {
			t.Errorf("ParseWrittenPid(%q) accepted", in)
		}
	}
	for name, want := range map[string][2]bool{"tasks": {true, true}, "cgroup.procs": {true, false}, "cgroup.threads": {true, true}, "memory.max": {false, false}} {
		if p, th := PidFile(name); p != want[0] || th != want[1] {
			t.Errorf("PidFile(%q) = %v %v", name, p, th)
		}
	}
}

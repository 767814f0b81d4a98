package hostcgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// Malformed kernel and cgroup text, one table per parser family and one
// through a whole Snapshot: truncated lines, huge numbers, negative
// values, "max" where a number is expected (and the other way round),
// missing files and binary garbage. Every parser either returns the value
// the kernel would mean or an error wrapping ErrParse; a Snapshot leaves
// out (nil) exactly the part the bad file feeds, which the renderers then
// take from the host.

func TestMalformedLimits(t *testing.T) {
	for _, c := range []struct {
		in   string
		want *Limit // nil: ErrParse
	}{
		{"max", &NoLimit},
		{"max\n", &NoLimit},
		{"  max  \n", &NoLimit},
		{"Max", nil},
		{"maximum", nil},
		{"-1", &NoLimit},
		{"-5", nil},
		{"-0", nil},
		{"18446744073709551615", &NoLimit}, // 2^64-1
		{"18446744073709551616", nil},      // 2^64
		{"99999999999999999999999999", nil},
		{"4611686018427387903", &Limit{Value: 4611686018427387903}}, // 2^62-1
		{"1.5", nil},
		{"1e9", nil},
		{"", nil},
		{"\n", nil},
		{"12 34", nil},
		{"\x00\xff\xfe", nil},
		{"1024\x00", nil},
	} {
		got, err := ParseLimit([]byte(c.in))
		switch {
		case c.want == nil && !errors.Is(err, ErrParse):
			t.Errorf("ParseLimit(%q) = %+v, %v; want ErrParse", c.in, got, err)
		case c.want != nil && (err != nil || got != *c.want):
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", c.in, got, err, *c.want)
		}
	}
}

func TestMalformedCPUMax(t *testing.T) {
	for _, c := range []struct {
		in     string
		ok     bool
		quota  Limit
		period uint64
	}{
		{"max", true, NoLimit, 100000},
		{"max 100000\n", true, NoLimit, 100000},
		{"50000 0", false, Limit{}, 0},
		{"-1 100000", false, Limit{}, 0},
		{"50000 -100000", false, Limit{}, 0},
		{"50000 100000 7", false, Limit{}, 0},
		{"18446744073709551616 100000", false, Limit{}, 0},
		{"max max", false, Limit{}, 0},
		{"", false, Limit{}, 0},
		{"\xff\xfe", false, Limit{}, 0},
	} {
		q, p, err := ParseCPUMax([]byte(c.in))
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrParse)) || (c.ok && (q != c.quota || p != c.period)) {
			t.Errorf("ParseCPUMax(%q) = %+v, %d, %v", c.in, q, p, err)
		}
	}
}

func TestMalformedTexts(t *testing.T) {
	type parser struct {
		name  string
		parse func([]byte) error
	}
	stat1 := parser{"memory.stat v1", func(b []byte) error { _, err := ParseMemoryStatV1(b); return err }}
	stat2 := parser{"memory.stat v2", func(b []byte) error { _, err := ParseMemoryStatV2(b); return err }}
	usageAll := parser{"cpuacct.usage_all", func(b []byte) error { _, err := ParseCPUAcctUsageAll(b); return err }}
	percpu := parser{"cpuacct.usage_percpu", func(b []byte) error { _, err := ParseCPUAcctUsagePercpu(b); return err }}
	cpuStat := parser{"cpu.stat", func(b []byte) error { _, err := ParseCPUStat(b); return err }}
	cpuset := parser{"cpuset", func(b []byte) error { _, err := ParseCPUSet(string(b)); return err }}
	cgroup := parser{"/proc/pid/cgroup", func(b []byte) error { _, err := ParseProcCgroup(strings.NewReader(string(b))); return err }}
	mountinfo := parser{"mountinfo", func(b []byte) error { _, err := hostfs.ParseMountinfo(strings.NewReader(string(b))); return err }}
	startTicks := parser{"/proc/pid/stat", func(b []byte) error { _, err := hostfs.ParseStatStartTicks(b); return err }}
	for _, c := range []struct {
		p    parser
		in   string
		good bool
	}{
		{stat1, "total_cache", false},                                                     // truncated line
		{stat1, "total_cache 12", true},                                                   // no final newline
		{stat1, "total_cache 18446744073709551616\n", false},                              // huge
		{stat1, "total_cache -4096\n", false},                                             // negative
		{stat1, "total_cache max\n", false},                                               // max where a number goes
		{stat1, "unknown_key garbage\ntotal_rss 1\n", true},                               // unknown keys are skipped
		{stat1, "\x00\x01\x02 \xff\n", true},                                              // unknown (binary) key: skipped
		{stat1, "\x00\x01\x02\xff\n", false},                                              // binary garbage line
		{stat1, "", false},                                                                // empty
		{stat2, "anon 1\nfile", false},                                                    // truncated last line
		{stat2, "anon 1 2\n", false},                                                      // extra field
		{usageAll, "cpu user system\n0 10", false},                                        // truncated row
		{usageAll, "cpu user system\n", false},                                            // header only
		{usageAll, "cpu user system\n0 -1 2\n", false},                                    // negative
		{usageAll, "cpu user system\n70000 1 2\n", false},                                 // absurd cpu number
		{usageAll, "\xff\xfe\n0 1 2\n", false},                                            // binary header
		{percpu, "1 2 x", false},                                                          // garbage value
		{percpu, "1 2 18446744073709551616", false},                                       // huge
		{percpu, "", false},                                                               // empty
		{cpuStat, "usage_usec 1\nuser_usec 18446744073709551615\nsystem_usec 1\n", false}, // overflows ns
		{cpuStat, "usage_usec 1\nuser_usec 5\n", false},                                   // truncated: no system_usec
		{cpuset, "0-", false},
		{cpuset, "-3", false},
		{cpuset, "99999999", false},
		{cpuset, "0-4294967295", false},
		{cpuset, "\x00", false},
		{cpuset, "0,,1", false},
		{cgroup, "garbage", false},
		{cgroup, "-1:memory:/a\n", false},
		{cgroup, "1:memory:relative\n", false},
		{cgroup, "\x00\xff:\x01:/\n", false},
		{cgroup, "4:memory:/a:b\n", true},
		{mountinfo, "21 1 254:1 / / rw", false}, // truncated: no separator
		{mountinfo, "x 1 0:1 / / rw - ext4 /dev/vda rw\n", false},
		{mountinfo, "\xff\xfe\x00\n", false},
		{startTicks, "1 (sh) S 1", false},
		{startTicks, "1 (sh", false},
		{startTicks, "1 (a) b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0 0\n", false},
		{startTicks, "1 (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999999 0\n", false},
	} {
		err := c.p.parse([]byte(c.in))
		switch {
		case c.good && err != nil:
			t.Errorf("%s %q: %v", c.p.name, c.in, err)
		case !c.good && !errors.Is(err, ErrParse):
			t.Errorf("%s %q: err = %v, want ErrParse", c.p.name, c.in, err)
		}
	}
}

// copyFixture copies testdata/name into a temporary directory.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestMalformedSnapshot damages one file of the v2 tree's /machine.slice/c2
// (pid 4100: 512 MiB below a 1 GiB parent, swap limit 0, cpuset 2-3 from
// the parent, cpu.max 2.0) and checks which parts of the Snapshot are left
// out and that the others keep their values.
func TestMalformedSnapshot(t *testing.T) {
	const c2 = "sys/fs/cgroup/machine.slice/c2/"
	const missing = "\x00missing"
	for _, c := range []struct {
		name, file, content string
		nilParts            string // letters: M(emory) C(PU) U(sage)
		check               func(*Snapshot) string
	}{
		{"negative memory.max", "memory.max", "-5\n", "M", nil},
		{"huge memory.max is unlimited here: the parent's limit applies", "memory.max", "18446744073709551615\n", "", func(s *Snapshot) string {
			if s.Memory.Limit != Bytes(1*giB) {
				return "limit not the parent's 1 GiB"
			}
			return ""
		}},
		{"number too big for 64 bits", "memory.max", "18446744073709551616\n", "M", nil},
		{"binary garbage memory.current", "memory.current", "\x00\xff\xfe\x01", "M", nil},
		{"truncated memory.stat", "memory.stat", "anon 1\nfile", "M", nil},
		{"missing memory.current", "memory.current", missing, "M", nil},
		{"max swap", "memory.swap.max", "max\n", "", func(s *Snapshot) string {
			if s.Memory.Swap == nil || s.Memory.Swap.Limit != Bytes(256*miB) {
				return "swap limit not the parent's 256 MiB"
			}
			return ""
		}},
		{"garbage swap: swap unknown, memory kept", "memory.swap.current", "lots\n", "", func(s *Snapshot) string {
			if s.Memory.Swap != nil || s.Memory.Limit != Bytes(512*miB) {
				return "swap not dropped or memory changed"
			}
			return ""
		}},
		{"garbage cpu.max", "cpu.max", "fast 100000\n", "C", nil},
		{"negative cpu.max period", "cpu.max", "200000 -100000\n", "C", nil},
		{"missing cpu.max: no quota here, the rest kept", "cpu.max", missing, "", func(s *Snapshot) string {
			if s.CPU.QuotaCPUs != 0 || s.CPU.CPUs.String() != "2-3" {
				return "quota or cpuset wrong"
			}
			return ""
		}},
		{"binary cpu.stat", "cpu.stat", "\xff\xfe\xfd", "U", nil},
		{"missing cpu.stat", "cpu.stat", missing, "U", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := copyFixture(t, "v2")
			name := filepath.Join(root, c2, c.file)
			var err error
			if c.content == missing {
				err = os.Remove(name)
			} else {
				err = os.WriteFile(name, []byte(c.content), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := New(Options{ProcFS: root + "/proc", MountPrefix: root})
			if err != nil {
				t.Fatal(err)
			}
			cg, err := v.Cgroups(4100)
			if err != nil {
				t.Fatal(err)
			}
			s := v.Snapshot(cg, WantMemory|WantCPU|WantCPUQuota|WantUsage)
			for part, isNil := range map[string]bool{"M": s.Memory == nil, "C": s.CPU == nil, "U": s.Usage == nil} {
				if want := strings.Contains(c.nilParts, part); isNil != want {
					t.Errorf("part %s nil = %v, want %v (snapshot %+v)", part, isNil, want, s)
				}
			}
			if c.check != nil && s.Memory != nil && s.CPU != nil {
				if msg := c.check(s); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

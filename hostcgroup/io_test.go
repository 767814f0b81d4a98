package hostcgroup

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseIOStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want map[Dev]IOCounters
		err  bool
	}{
		{"empty", "", map[Dev]IOCounters{}, false},
		{"two devices", "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=4096 dios=3\n8:16 rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0\n",
			map[Dev]IOCounters{{8, 0}: {ReadIOs: 1, WriteIOs: 2, DiscardIOs: 3, ReadBytes: 512, WriteBytes: 1024, DiscardBytes: 4096}, {8, 16}: {}}, false},
		{"unknown keys", "259:0 rbytes=1 cost.vrate=100.00 wios=7 junk\n", map[Dev]IOCounters{{259, 0}: {ReadBytes: 1, WriteIOs: 7}}, false},
		{"bad device", "sda rbytes=1\n", nil, true},
		{"bad value", "8:0 rbytes=x\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			io, err := ParseIOStat([]byte(tc.in))
			if tc.err {
				if !errors.Is(err, ErrParse) {
					t.Fatalf("err = %v, want ErrParse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, io.Devices); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestParseBlkioThrottle(t *testing.T) {
	io := &IO{}
	if err := ParseBlkioThrottle([]byte("8:0 Read 3\n8:0 Write 4\n8:0 Sync 7\n8:0 Async 0\n8:0 Discard 1\n8:0 Total 8\nTotal 8\n"), false, io); err != nil {
		t.Fatal(err)
	}
	if err := ParseBlkioThrottle([]byte("8:0 Read 1536\n8:0 Write 2048\n8:0 Discard 512\n8:0 Total 4096\nTotal 4096\n"), true, io); err != nil {
		t.Fatal(err)
	}
	want := map[Dev]IOCounters{{8, 0}: {ReadIOs: 3, WriteIOs: 4, DiscardIOs: 1, ReadBytes: 1536, WriteBytes: 2048, DiscardBytes: 512}}
	if d := cmp.Diff(want, io.Devices); d != "" {
		t.Error(d)
	}
	for _, bad := range []string{"8:0 Read\n", "x:0 Read 1\n", "8:0 Read -1\n"} {
		if err := ParseBlkioThrottle([]byte(bad), false, &IO{}); !errors.Is(err, ErrParse) {
			t.Errorf("%q: err = %v, want ErrParse", bad, err)
		}
	}
}

func FuzzParseIOStat(f *testing.F) {
	f.Add([]byte("8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=4096 dios=3\n"))
	f.Add([]byte("8:0 Read 3\nTotal 3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseIOStat(b)
		ParseBlkioThrottle(b, true, &IO{})
	})
}

func TestFixtureIOAndPSI(t *testing.T) {
	for _, tc := range []struct {
		tree string
		pid  int
		io   map[Dev]IOCounters
		cpu  string // start of the cpu.pressure content
	}{
		{"hybrid", 3000, map[Dev]IOCounters{
			{8, 0}: {ReadIOs: 10, WriteIOs: 20, DiscardIOs: 2, ReadBytes: 40960, WriteBytes: 1048576, DiscardBytes: 8192},
			{7, 1}: {},
		}, "some "},
		{"v2", 4000, map[Dev]IOCounters{
			{259, 0}: {ReadIOs: 1, WriteIOs: 16, ReadBytes: 4096, WriteBytes: 2097152},
			{253, 1}: {},
		}, "some avg10=0.00 avg60=0.00 avg300=0.00 total=10\n"},
		{"v2", 4100, map[Dev]IOCounters{}, ""}, // no io.stat: no device counts (per-task instead); no cpu.pressure fixture there either
		{"v2", 1, nil, ""},                     // root: host files
	} {
		v := fixtureView(t, tc.tree)
		cg, err := v.Cgroups(tc.pid)
		if err != nil {
			t.Fatal(err)
		}
		s := v.Snapshot(cg, WantIO)
		var got map[Dev]IOCounters
		if s.IO != nil {
			got = s.IO.Devices
		}
		if d := cmp.Diff(tc.io, got); d != "" {
			t.Errorf("%s pid %d IO: %s", tc.tree, tc.pid, d)
		}
		b, err := v.PSI(cg, "cpu")
		if err != nil {
			t.Errorf("%s pid %d PSI: %v", tc.tree, tc.pid, err)
		}
		if tc.cpu == "" && b != nil || len(b) < len(tc.cpu) || string(b[:len(tc.cpu)]) != tc.cpu {
			t.Errorf("%s pid %d cpu.pressure = %q, want prefix %q", tc.tree, tc.pid, b, tc.cpu)
		}
	}
}

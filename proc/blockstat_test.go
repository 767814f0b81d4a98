package proc

import (
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// hostStat17 is a Linux 5.5+ /sys/block/sda/stat, byte for byte as the
// kernel prints it.
const hostStat17 = "    9000      100   800000     5000     7000      200   600000     9000        0    12000    14000       50        0     4096       10      300       20\n"

func TestBlockStat(t *testing.T) {
	t.Parallel()
	io := &hostcgroup.IO{Devices: map[hostcgroup.Dev]hostcgroup.IOCounters{
		{Major: 8, Minor: 0}: {ReadIOs: 10, WriteIOs: 20, DiscardIOs: 2, ReadBytes: 40960, WriteBytes: 123456789 * 512, DiscardBytes: 8192},
	}}
	diskstats := Diskstats(nil, []byte(hostDiskstats20), io)
	for _, tc := range []struct {
		name     string
		host     string
		maj, min uint32
		want     string
	}{
		{"the container's counts, 17 fields", hostStat17, 8, 0,
			"      10        0       80        0       20        0 123456789        0        0        0        0        2        0       16        0        0        0\n"},
		{"a partition without counts", hostStat17, 8, 1,
			"       0        0        0        0        0        0        0        0        0        0        0        0        0        0        0        0        0\n"},
		{"the host's 15 fields", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n", 8, 0,
			"      10        0       80        0       20        0 123456789        0        0        0        0        2        0       16        0\n"},
		{"the host's 11 fields", "1 2 3 4 5 6 7 8 9 10 11\n", 8, 0,
			"      10        0       80        0       20        0 123456789        0        0        0        0\n"},
		{"no diskstats line: zeros", "1 2 3 4 5 6 7 8 9 10 11\n", 8, 9,
			"       0        0        0        0        0        0        0        0        0        0        0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(BlockStat(nil, diskstats, []byte(tc.host), tc.maj, tc.min))
			if got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	// The host's own file, rendered from the host's diskstats line (a
	// reader in the host's root cgroup), comes out byte for byte.
	host := "   8       0 sda 9000 100 800000 5000 7000 200 600000 9000 0 12000 14000 50 0 4096 10 300 20\n"
	if got := string(BlockStat(nil, []byte(host), []byte(hostStat17), 8, 0)); got != hostStat17 {
		t.Errorf("from the host's line:\n%q\nwant\n%q", got, hostStat17)
	}
	// Garbage in diskstats or in the host file: zeros, no panic.
	for _, bad := range []string{"", "\n\n", "8 0", "8 0 sda x y z", "99999999999 0 sda 1 2 3"} {
		got := string(BlockStat(nil, []byte(bad), []byte("1 2 3\n"), 8, 0))
		if strings.Trim(got, " 0\n") != "" {
			t.Errorf("diskstats %q: %q", bad, got)
		}
	}
	if got := string(BlockStat(nil, []byte("8 0 sda x 5 y"), []byte("1 2 3\n"), 8, 0)); got != "       0        5        0\n" {
		t.Errorf("a field that is not a number: %q", got)
	}
}

func TestParseDevNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		maj, min uint32
		ok       bool
	}{
		{"254:0\n", 254, 0, true},
		{"8:17", 8, 17, true},
		{"", 0, 0, false},
		{"8", 0, 0, false},
		{"8:x", 0, 0, false},
		{"-1:0", 0, 0, false},
		{"4294967296:0", 0, 0, false},
	} {
		maj, min, ok := ParseDevNumber([]byte(tc.in))
		if maj != tc.maj || min != tc.min || ok != tc.ok {
			t.Errorf("ParseDevNumber(%q) = %d, %d, %v; want %d, %d, %v", tc.in, maj, min, ok, tc.maj, tc.min, tc.ok)
		}
	}
}

package proc

import (
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// hostDiskstats20 is a Linux 5.5+ /proc/diskstats (20 fields after the
// name); hostDiskstats17 a 4.18-5.4 one.
const hostDiskstats20 = `   7       0 loop0 5 0 10 1 0 0 0 0 0 4 1 0 0 0 0 0 0
   8       0 sda 9000 100 800000 5000 7000 200 600000 9000 0 12000 14000 50 0 4096 10 300 20
   8       1 sda1 8000 100 700000 4000 6000 200 500000 8000 0 11000 12000 0 0 0 0 0 0
 259       0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17
`

const hostDiskstats17 = `   8       0 sda 9000 100 800000 5000 7000 200 600000 9000 0 12000 14000 50 0 4096 10
 259       0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
`

func TestDiskstats(t *testing.T) {
	t.Parallel()
	io := &hostcgroup.IO{Devices: map[hostcgroup.Dev]hostcgroup.IOCounters{
		{Major: 8, Minor: 0}:   {ReadIOs: 10, WriteIOs: 20, DiscardIOs: 2, ReadBytes: 40960, WriteBytes: 1048576, DiscardBytes: 8192},
		{Major: 259, Minor: 0}: {WriteIOs: 1, WriteBytes: 4096},
		{Major: 7, Minor: 0}:   {},           // listed, never used: zeros
		{Major: 9, Minor: 9}:   {ReadIOs: 1}, // not on the host: not shown
	}}
	for _, tc := range []struct {
		name, host, want string
	}{
		{"20 fields", hostDiskstats20,
			"   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" +
				"   8       0 sda 10 0 80 0 20 0 2048 0 0 0 0 2 0 16 0 0 0\n" +
				"   8       1 sda1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" +
				" 259       0 nvme0n1 0 0 0 0 1 0 8 0 0 0 0 0 0 0 0 0 0\n"},
		{"17 fields", hostDiskstats17,
			"   8       0 sda 10 0 80 0 20 0 2048 0 0 0 0 2 0 16 0\n" +
				" 259       0 nvme0n1 0 0 0 0 1 0 8 0 0 0 0 0 0 0 0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Diskstats(nil, []byte(tc.host), io))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			// Invariant: every line has the host line's field count.
			hostFields := map[string]int{}
			for _, l := range strings.Split(tc.host, "\n") {
				if f := strings.Fields(l); len(f) > 3 {
					hostFields[f[2]] = len(f)
				}
			}
			for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
				f := strings.Fields(l)
				if len(f) != hostFields[f[2]] {
					t.Errorf("%s: %d fields, host has %d", f[2], len(f), hostFields[f[2]])
				}
			}
		})
	}
	if got := string(Diskstats(nil, []byte(hostDiskstats20), nil)); got != hostDiskstats20 {
		t.Errorf("nil io: got %q, want the host file", got)
	}
	// Nothing known: every host device, all zeros (never the host's
	// counts, which iostat would divide by the container's uptime).
	zeros := "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" +
		"   8       0 sda 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" +
		"   8       1 sda1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" +
		" 259       0 nvme0n1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	if got := string(Diskstats(nil, []byte(hostDiskstats20), &hostcgroup.IO{})); got != zeros {
		t.Errorf("no devices: got\n%s\nwant\n%s", got, zeros)
	}
	// Per-task accounting: sectors on the root's partition and its disk,
	// no request counts.
	tasks := &hostcgroup.IO{Tasks: &hostcgroup.TaskIO{ReadBytes: 4096, WriteBytes: 1 << 20,
		Devices: []hostcgroup.Dev{{Major: 8, Minor: 1}, {Major: 8, Minor: 0}}}}
	want := "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" +
		"   8       0 sda 0 0 8 0 0 0 2048 0 0 0 0 0 0 0 0 0 0\n" +
		"   8       1 sda1 0 0 8 0 0 0 2048 0 0 0 0 0 0 0 0 0 0\n" +
		" 259       0 nvme0n1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	if got := string(Diskstats(nil, []byte(hostDiskstats20), tasks)); got != want {
		t.Errorf("per-task: got\n%s\nwant\n%s", got, want)
	}
	// Garbage host lines are dropped, never panic.
	Diskstats(nil, []byte("x\n 8\n8 0\n8 0 \n99999999999 0 sda 1\n"), io)
}

func TestPressure(t *testing.T) {
	t.Parallel()
	host := []byte("some avg10=1.00 avg60=1.00 avg300=1.00 total=100\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
	cg := []byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3\n")
	if got := Pressure(nil, host, cg); string(got) != string(cg) {
		t.Errorf("got %q, want the cgroup's file", got)
	}
	if got := Pressure(nil, host, nil); string(got) != string(host) {
		t.Errorf("got %q, want the host's file", got)
	}
}

func TestLoadavg(t *testing.T) {
	t.Parallel()
	host := []byte("0.50 0.40 0.30 2/300 12345\n")
	if got := Loadavg(nil, host, nil); string(got) != string(host) {
		t.Errorf("nil: %q", got)
	}
	for _, tc := range []struct {
		in   Load
		want string
	}{
		{Load{}, "0.00 0.00 0.00 0/0 0\n"},
		{Load{Avg: [3]uint64{2048, 1024, 4096 + 2047}, Running: 1, Total: 7, LastPID: 99}, "1.00 0.50 3.00 1/7 99\n"},
		// 2038/2048 = 0.995: rounding (+FIXED_1/200) carries into the integer part.
		{Load{Avg: [3]uint64{2038, 20, 21}}, "1.00 0.01 0.01 0/0 0\n"},
		{Load{Avg: [3]uint64{300 * 2048, 0, 0}, Running: -1}, "300.00 0.00 0.00 0/0 0\n"},
	} {
		if got := string(Loadavg(nil, nil, &tc.in)); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStatTimes(t *testing.T) {
	t.Parallel()
	host := "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 0 5 50 0 0 0 0 0 0\ncpu1 5 0 5 50 0 0 0 0 0 0\nintr 1\n"
	in := StatInput{
		View:  CPUView{Host: []int{1}, Renumber: true},
		Usage: &hostcgroup.CPUUsage{UserNanos: 1e9},
		Times: []CPUTimes{{User: 7, System: 3, Idle: 40}},
	}
	want := "cpu  7 0 3 40 0 0 0 0 0 0\ncpu0 7 0 3 40 0 0 0 0 0 0\nintr 1\n"
	if got := string(Stat(nil, []byte(host), in)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func FuzzDiskstats(f *testing.F) {
	f.Add([]byte(hostDiskstats20), uint32(8), uint32(0))
	f.Add([]byte(hostDiskstats17), uint32(259), uint32(0))
	f.Fuzz(func(t *testing.T, host []byte, maj, min uint32) {
		io := &hostcgroup.IO{Devices: map[hostcgroup.Dev]hostcgroup.IOCounters{{Major: maj, Minor: min}: {ReadIOs: 1, WriteBytes: 1 << 40}}}
		Diskstats(nil, host, io)
	})
}

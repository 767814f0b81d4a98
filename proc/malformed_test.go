package proc

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// Host files the kernel would never write (binary garbage, negative and
// huge numbers, truncated lines, "max" where a number goes): every renderer
// keeps the lines it cannot read as they are, computes the ones it owns,
// and never panics. The odd-* goldens cover hand-damaged whole files; this
// table covers one bad line at a time.

var limited = &hostcgroup.Memory{Limit: hostcgroup.Bytes(256 << 20), UsageBytes: 64 << 20, Swappiness: 60,
	Swap: &hostcgroup.Swap{Limit: hostcgroup.Bytes(128 << 20), UsageBytes: 1 << 20}}

func TestMalformedMeminfo(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, host string
		mem        *hostcgroup.Memory
		want       []string // substrings of the output
		same       bool     // output == host
	}{
		{"negative MemTotal, no limit: host file as is", "MemTotal: -5 kB\nMemFree: 1 kB\n", &hostcgroup.Memory{Limit: hostcgroup.NoLimit}, nil, true},
		{"negative MemTotal, a limit: the limit", "MemTotal: -5 kB\nMemFree: 1 kB\n", limited, []string{"MemTotal:         262144 kB\n", "MemFree:          196608 kB\n"}, false},
		{"huge MemTotal caps nothing", "MemTotal: 99999999999999999999999 kB\n", limited, []string{"MemTotal:         262144 kB\n"}, false},
		{"max as a value", "MemTotal: max kB\nSwapTotal: max kB\n", limited, []string{"MemTotal:         262144 kB\n", "SwapTotal:             0 kB\n"}, false},
		{"truncated last line", "MemTotal: 1000000 kB\nMemFr", limited, []string{"MemTotal:         262144 kB\n", "MemFr"}, false},
		{"binary garbage kept", "\x00\xff\xfe\nMemTotal: 1000000 kB\n\x01:\x02\n", limited, []string{"\x00\xff\xfe\n", "MemTotal:         262144 kB\n", "\x01:\x02\n"}, false},
		{"no memory view: host file", "\x00garbage", nil, nil, true},
	} {
		got := string(Meminfo(nil, []byte(c.host), c.mem, Options{}))
		if c.same && got != c.host {
			t.Errorf("%s: %q, want the host's %q", c.name, got, c.host)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", c.name, got, w)
			}
		}
	}
}

func TestMalformedUptimeAndStat(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"-5.00 3.00\n", "1e9 1\n", "\x00\xff", "", "99999999999999999999999999999.5 1\n", "12.34"} {
		got := Uptime(nil, []byte(host), UptimeInput{InitStartTicks: 100, ClockTicks: 100, VisibleCPUs: 2})
		if strings.ContainsAny(string(got), "-e") && string(got) != host {
			t.Errorf("uptime of %q = %q", host, got)
		}
	}
	in := StatInput{View: CPUView{Host: []int{1}}, ClockTicks: 100}
	for _, host := range []string{
		"cpu  1 2 3\ncpu0 -1 2\ncpu1 99999999999999999999999 0\n\x00\xff binary\nctxt 5\n",
		"cpu",
		"cpu1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
	} {
		got := Stat(nil, []byte(host), in)
		if bytes.Contains([]byte(host), []byte("\x00\xff binary\n")) && !bytes.Contains(got, []byte("\x00\xff binary\n")) {
			t.Errorf("stat dropped a line it does not own: %q", got)
		}
		if bytes.Contains(got, []byte("cpu0")) {
			t.Errorf("stat shows cpu0 outside the view: %q", got)
		}
	}
}

func TestMalformedCPUInfo(t *testing.T) {
	t.Parallel()
	for _, host := range []string{
		"processor\t: x\nmodel name\t: a\n\nprocessor\t: 1\n",
		"processor\t: -1\n\nprocessor\t: 99999999999999999999\n",
		"\x00\xff\n\nprocessor",
	} {
		got := CPUInfo(nil, []byte(host), CPUView{Host: []int{0}})
		if n, m := bytes.Count(got, []byte("processor")), bytes.Count([]byte(host), []byte("processor")); n > m {
			t.Errorf("cpuinfo of %q has %d processors", host, n)
		}
	}
}

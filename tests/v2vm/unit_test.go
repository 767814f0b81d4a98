package v2vm

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/tests/v2vm/wire"
)

// cpioEntry is one parsed newc entry.
type cpioEntry struct {
	Name         string
	Mode         uint32
	RMajor, RMin uint32
	Data         string
}

// readCPIO parses a newc archive (the test's independent reader).
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("offset %d field %d: %v", off, i, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("offset %d: bad magic %q", off, b[off:off+6])
		}
		mode, size, rmaj, rmin, nsz := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+nsz-1])
		off = align(off + 110 + nsz)
		data := string(b[off : off+size])
		off = align(off + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{Name: name, Mode: mode, RMajor: rmaj, RMin: rmin, Data: data})
	}
}

func TestCPIO(t *testing.T) {
	var buf bytes.Buffer
	c := newCPIO(&buf)
	c.File("/bin/x", 0o755, []byte("hello"))
	c.Symlink("bin/sh", "busybox")
	c.CharDev("dev/console", 0o600, 5, 1)
	c.Dir("tmp", 0o1777)
	c.File("etc/empty", 0o644, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := readCPIO(t, buf.Bytes())
	want := []cpioEntry{
		{Name: "bin", Mode: 0o40755},
		{Name: "bin/x", Mode: 0o100755, Data: "hello"},
		{Name: "bin/sh", Mode: 0o120777, Data: "busybox"},
		{Name: "dev", Mode: 0o40755},
		{Name: "dev/console", Mode: 0o20600, RMajor: 5, RMin: 1},
		{Name: "tmp", Mode: 0o41777},
		{Name: "etc", Mode: 0o40755},
		{Name: "etc/empty", Mode: 0o100644},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("archive entries (-want +got):\n%s", d)
	}
}

func TestParseLine(t *testing.T) {
	r := wire.Result{Name: "limited/meminfo/MemTotal", Status: wire.Fail, File: "/mnt/lxcfs/proc/meminfo",
		Field: "MemTotal", Got: "1 kB", Want: "2 kB"}
	for _, tc := range []struct {
		name string
		line string
		want wire.Line
		ok   bool
	}{
		{"result", wire.FormatResult(r) + "\r\n", wire.Line{Result: &r}, true},
		{"after kernel noise", "[   1.0] x: y" + wire.FormatResult(r), wire.Line{Result: &r}, true},
		{"itest", wire.FormatITest("\x16=== RUN   TestX\n"), wire.Line{ITest: ptr("\x16=== RUN   TestX\n")}, true},
		{"done", "V2VM-DONE rc=3 uptime=4.50", wire.Line{Done: &wire.Done{RC: 3, Uptime: 4.5}}, true},
		{"other", "[    1.695517] reboot: Power down", wire.Line{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := wire.ParseLine(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if _, ok, err := wire.ParseLine("V2VM-RESULT {broken"); !ok || err == nil {
		t.Errorf("broken record: ok=%v err=%v, want ok and an error", ok, err)
	}
	if got, want := r.Message(), `/mnt/lxcfs/proc/meminfo: MemTotal: got "1 kB", want "2 kB"`; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSplitRegexp(t *testing.T) {
	for in, want := range map[string][]string{
		"TestV2VM":                             {"TestV2VM"},
		"TestV2VM/limited":                     {"TestV2VM", "limited"},
		"TestV2VM/integration/TestA/sub":       {"TestV2VM", "integration", "TestA", "sub"},
		"TestV2VM/(a/b)|c":                     {"TestV2VM", "(a/b)|c"},
		"TestV2VM/[/]x":                        {"TestV2VM", "[/]x"},
		fmt.Sprintf("%s/%s", "^TestV2VM$", ""): {"^TestV2VM$", ""},
	} {
		if d := cmp.Diff(want, splitRegexp(in)); d != "" {
			t.Errorf("splitRegexp(%q) (-want +got):\n%s", in, d)
		}
	}
}

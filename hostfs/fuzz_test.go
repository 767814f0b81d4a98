package hostfs

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// The fuzz targets check that no parser of kernel text panics, that every
// error wraps ErrParse, and what each result promises. Run one with, e.g.,
//
//	go test -run '^$' -fuzz FuzzParseMountinfo ./hostfs

func checkParseErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrParse) {
		t.Fatalf("error %v does not wrap ErrParse", err)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("31 23 0:28 / /sys/fs/cgroup rw,relatime shared:9 master:2 - tmpfs tmpfs rw,mode=755\n"))
	f.Add([]byte(`70 21 0:26 /a\040b /m\134 rw - cgroup  rw,memory`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseMountinfo(bytes.NewReader(b))
		checkParseErr(t, err)
		for _, m := range ms {
			if m.Dev == "" || len(m.Options) == 0 {
				t.Fatalf("mount %+v lacks its device or options", m)
			}
		}
	})
}

func FuzzUnescapeMountinfo(f *testing.F) {
	f.Add(`/a\040b\134c\011`)
	f.Add(`\9\4\777\`)
	f.Fuzz(func(t *testing.T, s string) {
		u := UnescapeMountinfo(s)
		if len(u) > len(s) {
			t.Fatalf("%q unescaped to the longer %q", s, u)
		}
		if !strings.Contains(s, `\`) && u != s {
			t.Fatalf("%q without escapes changed to %q", s, u)
		}
	})
}

func FuzzParseStatStartTicks(f *testing.F) {
	f.Add([]byte(statLine("a) (b", 7)))
	f.Add([]byte("1 (x) S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseStatStartTicks(b)
		checkParseErr(t, err)
	})
}

func FuzzParseStatusField(f *testing.F) {
	f.Add([]byte("Tgid:\t1\nNSpid:\t1\t2\n"), "NSpid")
	f.Add([]byte("Tgid:"), "Tgid")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		v, ok := ParseStatusField(b, key)
		if !ok && v != "" {
			t.Fatalf("absent key %q with value %q", key, v)
		}
		if ok && !bytes.Contains(b, []byte(key+":")) {
			t.Fatalf("key %q found in text without it", key)
		}
	})
}

func FuzzParseUptime(f *testing.F) {
	f.Add([]byte("350735.47 234388.90\n"))
	f.Add([]byte("1e308 -0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUptime(b)
		checkParseErr(t, err)
		if err == nil && (u.Seconds < 0 || u.IdleSeconds < 0) {
			t.Fatalf("%q: negative %+v", b, u)
		}
	})
}

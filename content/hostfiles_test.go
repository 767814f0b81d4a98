package content

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Host files outside procfs and sysfs (fixtures) are read afresh every
// time, cpuinfo included.
func TestHostFilesFixtureFresh(t *testing.T) {
	dir := t.TempDir()
	online := filepath.Join(dir, "online")
	cpuinfo := filepath.Join(dir, "cpuinfo")
	meminfo := filepath.Join(dir, "meminfo")
	write := func(name, s string) {
		t.Helper()
		tmp := name + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, name); err != nil {
			t.Fatal(err)
		}
	}
	write(online, "0-1\n")
	write(cpuinfo, "processor\t: 0\n")
	write(meminfo, "MemTotal: 1 kB\n")
	for _, v := range []string{"a", "b"} {
		write(cpuinfo, "processor\t: "+v+"\n")
		write(meminfo, "MemTotal: "+v+" kB\n")
		if b, err := readHost(cpuinfo, online); err != nil || string(b) != "processor\t: "+v+"\n" {
			t.Fatalf("cpuinfo = %q, %v", b, err)
		}
		if b, err := readHost(meminfo, online); err != nil || string(b) != "MemTotal: "+v+" kB\n" {
			t.Fatalf("meminfo = %q, %v", b, err)
		}
	}
	write(online, "0-3\n")
	if got := hostOnlineSet(online); got.String() != "0-3" {
		t.Fatalf("online = %v, want 0-3", got)
	}
	write(online, "0\n")
	if got := hostOnlineSet(online); got.String() != "0" {
		t.Fatalf("online = %v, want 0", got)
	}
	os.Remove(online)
	if got := hostOnlineSet(online); got.String() != "0" {
		t.Fatalf("missing online = %v, want 0", got)
	}
	if _, err := readHost(filepath.Join(dir, "missing"), online); !os.IsNotExist(err) {
		t.Fatalf("missing file: err = %v", err)
	}
}

// The real files read the same as os.ReadFile gives (modulo counters that
// tick), and repeated reads regenerate them.
func TestHostFilesReal(t *testing.T) {
	for _, name := range []string{"/proc/meminfo", "/proc/uptime", "/proc/loadavg", "/proc/stat", "/proc/cpuinfo", "/sys/devices/system/cpu/online"} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Skip(err)
		}
		for range 3 {
			got, err := readHost(name, "/sys/devices/system/cpu/online")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 || firstLineKey(got) != firstLineKey(want) {
				t.Fatalf("%s: got %q..., want %q...", name, firstLineKey(got), firstLineKey(want))
			}
		}
	}
	b1, _ := readHost("/proc/uptime", "")
	for range 100 {
		b2, _ := readHost("/proc/uptime", "")
		if string(b2) != string(b1) {
			return // regenerated
		}
		sleepTick()
	}
	t.Fatal("/proc/uptime never changed: served from a stale copy")
}

func firstLineKey(b []byte) string {
	for i, c := range b {
		if c == ' ' || c == ':' || c == '\n' || c == '\t' {
			return string(b[:i])
		}
	}
	return string(b)
}

func sleepTick() { time.Sleep(10 * time.Millisecond) }

// The host's /proc/meminfo is read once per meminfoTTL: a read within it
// gets the same text, a read after it a new one.
func TestHostMeminfoReused(t *testing.T) {
	const name = "/proc/meminfo"
	if _, err := os.Stat(name); err != nil {
		t.Skip(err)
	}
	read := func() []byte {
		t.Helper()
		b, err := readHost(name, "")
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %q, %v", name, b, err)
		}
		return b
	}
	hostFiles.meminfo.Store(nil)
	start := time.Now()
	a := read()
	b := read()
	if &b[0] != &a[0] && time.Since(start) < meminfoTTL {
		t.Fatal("second read within meminfoTTL read the file again")
	}
	time.Sleep(meminfoTTL + 10*time.Millisecond)
	if c := read(); &c[0] == &a[0] {
		t.Fatalf("read after %v served the copy made before it", meminfoTTL)
	}
}

package kfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A file on an ordinary file system is read whole and never kept: a
// fixture replaced by rename reads as the new file.
func TestOrdinaryFileNotKept(t *testing.T) {
	c := NewCache(8)
	name := filepath.Join(t.TempDir(), "memory.max")
	if err := os.WriteFile(name, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bp := GetBuf()
	defer PutBuf(bp)
	if b, err := c.Read(name, bp); err != nil || string(b) != "1\n" {
		t.Fatalf("read = %q, %v", b, err)
	}
	if c.Kept(name) {
		t.Error("fd of an ordinary file kept")
	}
	if err := os.WriteFile(name+".new", []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(name+".new", name); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Read(name, bp); err != nil || string(b) != "2\n" {
		t.Errorf("after replace = %q, %v", b, err)
	}
}

// A kernel file is kept and re-read fresh; when its process exits the kept
// fd fails, is dropped, and the error is the process being gone.
func TestKernelFileKeptAndDropped(t *testing.T) {
	c := NewCache(8)
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	name := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat"
	bp := GetBuf()
	defer PutBuf(bp)
	b, err := c.Read(name, bp)
	if err != nil || len(b) == 0 {
		t.Fatalf("read = %q, %v", b, err)
	}
	if !c.Kept(name) {
		t.Fatal("procfs fd not kept")
	}
	cmd.Process.Kill()
	cmd.Wait()
	_, err = c.Read(name, bp)
	if err == nil {
		t.Fatal("read of an exited process's stat succeeded")
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("err = %v, want not exist or ESRCH", err)
	}
	if c.Kept(name) {
		t.Error("fd of an exited process still kept")
	}
}

// The cache never keeps more than its bound.
func TestCacheBounded(t *testing.T) {
	c := NewCache(4)
	defer c.Reset()
	bp := GetBuf()
	defer PutBuf(bp)
	for _, f := range []string{"meminfo", "stat", "uptime", "loadavg", "version", "cmdline", "filesystems", "self/stat"} {
		if _, err := c.Read("/proc/"+f, bp); err != nil {
			t.Fatal(err)
		}
		if n := c.Len(); n > 4 {
			t.Fatalf("%d fds kept, bound 4", n)
		}
	}
	c.Reset()
	if n := c.Len(); n != 0 {
		t.Errorf("%d fds kept after Reset", n)
	}
}

// A file larger than the buffer is read whole.
func TestGrowsBuffer(t *testing.T) {
	name := filepath.Join(t.TempDir(), "big")
	want := make([]byte, 100_000)
	for i := range want {
		want[i] = byte('a' + i%26)
	}
	if err := os.WriteFile(name, want, 0o644); err != nil {
		t.Fatal(err)
	}
	bp := GetBuf()
	defer PutBuf(bp)
	b, err := ReadToEOF(name, bp)
	if err != nil || string(b) != string(want) {
		t.Errorf("read %d bytes, %v; want %d", len(b), err, len(want))
	}
}

// An fd not read for a sweep period is closed at the next open; one in use
// stays.
func TestUnusedFDsSwept(t *testing.T) {
	defer func(n uint32) { sweepCheckEvery = n }(sweepCheckEvery)
	sweepCheckEvery = 1
	now := time.Unix(1000, 0)
	c := NewCache(16)
	c.Now = func() time.Time { return now }
	defer c.Reset()
	bp := GetBuf()
	defer PutBuf(bp)
	read := func(name string) {
		t.Helper()
		if _, err := c.Read(name, bp); err != nil {
			t.Fatal(err)
		}
	}
	read("/proc/meminfo")
	read("/proc/uptime")
	for range 3 {
		now = now.Add(SweepPeriod)
		read("/proc/meminfo")
		read("/proc/loadavg") // an open: sweeps
	}
	if c.Kept("/proc/uptime") {
		t.Error("fd unread for three sweep periods still kept")
	}
	if !c.Kept("/proc/meminfo") {
		t.Error("fd read in every period closed")
	}
}

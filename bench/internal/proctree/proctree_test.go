package proctree

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// A live child is a descendant and its running time counts; a reaped
// child's time counts through the parent's cutime and cstime.
func TestChildrenCount(t *testing.T) {
	self := os.Getpid()
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	if d := Descendants(self); !slices.Contains(d, sleeper.Process.Pid) {
		t.Fatalf("descendants %v lack the child %d", d, sleeper.Process.Pid)
	}

	before, ok := ProcessSeconds(self)
	if !ok {
		t.Fatal("no /proc/self/stat")
	}
	nanos0 := ThreadNanos(self)
	// A child that burns at least 0.3 s of CPU, then is reaped.
	burn := exec.Command("sh", "-c", `end=$(($(date +%s%N) + 300000000)); while [ "$(date +%s%N)" -lt $end ]; do :; done`)
	if err := burn.Run(); err != nil {
		t.Fatal(err)
	}
	child := burn.ProcessState.UserTime() + burn.ProcessState.SystemTime()
	after, _ := ProcessSeconds(self)
	nanos := time.Duration(ThreadNanos(self) - nanos0)
	t.Logf("child used %v; ProcessSeconds +%.2fs, ThreadNanos +%v", child, after-before, nanos)
	if child < 100*time.Millisecond {
		t.Skipf("the child used only %v of CPU", child)
	}
	slack := 30 * time.Millisecond // tick resolution, twice
	if got := time.Duration((after - before) * float64(time.Second)); got < child-slack {
		t.Errorf("ProcessSeconds grew by %v, less than the reaped child's %v", got, child)
	}
	if nanos < child-slack {
		t.Errorf("ThreadNanos grew by %v, less than the reaped child's %v", nanos, child)
	}
}

package proc

import (
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

func TestStatTasks(t *testing.T) {
	t.Parallel()
	host := "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 10 0 10 100 0 0 0 0 0 0\nintr 5\nctxt 9\nbtime 1\nprocesses 50\nprocs_running 7\nprocs_blocked 3\nsoftirq 1 2\n"
	in := StatInput{View: CPUView{Host: []int{0}}, ClockTicks: 100}
	if got := string(Stat(nil, []byte(host), in)); got != host {
		t.Fatalf("without tasks the host file must pass through:\n%s", got)
	}
	in.Tasks = &hostcgroup.Tasks{Total: 4, Running: 1, Blocked: 0}
	got := string(Stat(nil, []byte(host), in))
	want := strings.Replace(strings.Replace(host, "procs_running 7", "procs_running 1", 1), "procs_blocked 3", "procs_blocked 0", 1)
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

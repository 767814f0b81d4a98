package integration

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestCheckSeesDaemon: `lxcfs-go check --json` on this host finds the
// running test daemon's mount and reports it healthy, and `show` of this
// process's meminfo agrees with what the mount serves it.
func TestCheckSeesDaemon(t *testing.T) {
	d := setup(t)
	out, err := exec.Command(d.Binary, "check", "--json").Output()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	var r struct {
		CanRun    bool `json:"can_run"`
		Instances []struct {
			MountPoint string `json:"mount_point"`
			Ours       bool   `json:"ours"`
			Health     string `json:"health"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if !r.CanRun {
		t.Errorf("check says lxcfs-go cannot run on the host it runs on:\n%s", out)
	}
	found := false
	for _, in := range r.Instances {
		if in.MountPoint == d.Mnt {
			found = true
			if !in.Ours || in.Health != "ok" {
				t.Errorf("instance %+v", in)
			}
		}
	}
	if !found {
		t.Errorf("check did not find %s:\n%s", d.Mnt, out)
	}

	cg := newCgroup(t)
	cg.MemoryLimit(448 * MiB)
	shown, stderr, err := cg.Run(d.Binary, "show", "meminfo")
	if err != nil {
		t.Fatalf("show: %v: %s", err, stderr)
	}
	if got := memTotal(t, shown); got != 448*1024 {
		t.Errorf("show: MemTotal %d kB, want %d", got, 448*1024)
	}
	shown, _, err = cg.Run(d.Binary, "show", "--explain", "meminfo")
	if err != nil || !regexp.MustCompile(`MemTotal +458752 kB +host`).MatchString(shown) || !strings.Contains(shown, cg.Rel()+" 448 MiB") {
		t.Errorf("show --explain: %v\n%s", err, shown)
	}
}

package integration

import (
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bootScript runs as a container: pid 1 of a new pid and mount namespace
// (with a time namespace when extra args ask for one) whose /proc is its
// own, with the daemon's uptime and stat bound over the kernel's, as a
// runtime binds them. After a second it reports what tools see, the real
// ps included: now, /proc/uptime, btime, and ps's ELAPSED (etimes) and
// START (lstart, as epoch seconds) of its init (procps's ps only:
// busybox's, in the v2 VM, has neither field).
const bootScript = `
set -e
D=$1
shift
exec unshare --pid --fork --mount --mount-proc --propagation private "$@" sh -c '
set -e
mount --bind "$0/proc/uptime" /proc/uptime
mount --bind "$0/proc/stat" /proc/stat
sleep 1
echo "now $(date +%s)"
echo "uptime $(cut -d" " -f1 /proc/uptime)"
grep "^btime " /proc/stat
if ps -V 2>&1 | grep -q procps; then
	echo "etimes $(ps -o etimes= -p 1)"
	echo "lstart $(date -d "$(ps -o lstart= -p 1)" +%s)"
fi
' "$D"
`

// bootReport is what bootScript printed; hasPS is false where ps is not
// procps's.
type bootReport struct {
	now, uptime, btime, etimes, lstart float64
	hasPS                              bool
}

func runBootScript(t *testing.T, dir string, extra ...string) (bootReport, time.Time) {
	t.Helper()
	cg := newCgroup(t)
	started := time.Now()
	out, errOut, err := cg.Run(append([]string{"sh", "-c", bootScript, "sh", dir}, extra...)...)
	if err != nil {
		t.Fatalf("container script: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	var r bootReport
	fields := map[string]*float64{"now": &r.now, "uptime": &r.uptime, "btime": &r.btime, "etimes": &r.etimes, "lstart": &r.lstart}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		p, ok := fields[k]
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			// ps prints a wrapped ELAPSED as a huge number or a negative;
			// either parses, anything else is a broken report.
			t.Fatalf("%s %q: %v\n%s", k, v, err, out)
		}
		*p = f
		delete(fields, k)
	}
	_, noEtimes := fields["etimes"]
	_, noLstart := fields["lstart"]
	r.hasPS = !noEtimes && !noLstart
	if noEtimes && noLstart {
		delete(fields, "etimes")
		delete(fields, "lstart")
	}
	if len(fields) > 0 {
		t.Fatalf("report lacks %v:\n%s\nstderr:\n%s", fields, out, errOut)
	}
	t.Logf("report: %+v", r)
	return r, started
}

func requireHostUptime(t *testing.T, atLeast float64) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	up, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	if up < atLeast {
		t.Skipf("the host has been up %.0f s; the check needs %.0f s to tell its boot from the container's", up, atLeast)
	}
	return up
}

// TestBootTime: /proc/stat's btime is the container's boot, consistent
// with the served /proc/uptime (btime + uptime = now), as psutil's
// boot_time(), node_exporter's node_boot_time_seconds and `uptime -s` read
// it; lxcfs keeps the host's btime.
func TestBootTime(t *testing.T) {
	d := setup(t)
	requireHostUptime(t, 30)
	r, _ := runBootScript(t, d.Mnt)
	if r.uptime > 5 {
		t.Errorf("uptime %.2f s in a container started a second ago", r.uptime)
	}
	if diff := r.now - (r.btime + r.uptime); math.Abs(diff) > 2 {
		t.Errorf("btime %.0f + uptime %.2f is %.0f s from now %.0f; want the same boot", r.btime, r.uptime, diff, r.now)
	}
}

// TestBootTimeNamespace: a container in a time namespace whose boottime
// offset puts its boot an hour before its init started (as LXC's static
// lxc.time.offset.boot or runc's timeOffsets do) gets the kernel's own
// view: uptime about an hour, btime an hour ago, and the real ps then
// prints its init's ELAPSED as about a second and its START as when it
// started, because the kernel moves the start times in /proc/<pid>/stat by
// the same offset. Serving the init's age instead would make ps's ELAPSED
// wrap around.
func TestBootTimeNamespace(t *testing.T) {
	d := setup(t)
	hostUp := requireHostUptime(t, 1)
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skipf("the kernel has no time namespaces: %v", err)
	}
	if err := exec.Command("unshare", "--time", "--boottime", "0", "true").Run(); err != nil {
		t.Skipf("unshare cannot make a time namespace: %v", err)
	}
	const before = 3600
	offset := before - int64(hostUp)
	r, started := runBootScript(t, d.Mnt, "--time", "--boottime", strconv.FormatInt(offset, 10))
	if r.uptime < before || r.uptime > before+10 {
		t.Errorf("uptime %.2f s, want the time namespace's, about %d s", r.uptime, before)
	}
	if diff := r.now - (r.btime + r.uptime); math.Abs(diff) > 2 {
		t.Errorf("btime %.0f + uptime %.2f is %.0f s from now %.0f; want the same boot", r.btime, r.uptime, diff, r.now)
	}
	if !r.hasPS {
		t.Log("no procps ps here: ps's ELAPSED and START not checked")
		return
	}
	if r.etimes < 0 || r.etimes > 10 {
		t.Errorf("ps ELAPSED of the container's init %.0f s, want about 1", r.etimes)
	}
	if diff := r.lstart - float64(started.Unix()); diff < -2 || diff > 10 {
		t.Errorf("ps START of the container's init %.0f is %.0f s from when it started (%d)", r.lstart, diff, started.Unix())
	}
}

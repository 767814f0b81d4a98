// Package realtools runs the tools users run inside a container (free,
// top, uptime, ps, nproc, lscpu, mpstat, iostat, numactl, psutil,
// node_exporter) in two containers made from one Debian rootfs, each under
// a 256 MiB memory limit, one CPU and a CFS quota of 0.5, on a daemon
// started with --enable-cfs -l, and checks what they print against the
// container's limits and age, with one table of checks (tools_test.go)
// run through each runtime's way into its container:
//
//   - TestToolsRunc: a runc container whose /proc and /sys files are bound
//     by config.json mounts (docs/oci.md). runc 1.1 has no time
//     namespaces, so its first process is `unshare --time --boottime
//     -<host uptime>` and every tool runs in that namespace (docs/time.md:
//     only then are process ages exact).
//   - TestToolsLXC: an LXC application container (lxc-execute, init.lxc as
//     pid 1), the files bound by hooks/lxc.mount.hook (docs/lxc.md), the
//     limits in its config, its boot set by lxc.time.offset.boot; tools run
//     through lxc-attach.
//
// The tests skip unless LXCFS_GO_REAL_TOOLS=1 (`make e2e-tools` sets it).
// They need root, /dev/fuse, debootstrap, runc and nsenter, lxc, and for
// the first run the Debian mirror: it debootstraps a bookworm rootfs with
// procps, sysstat, python3-psutil, prometheus-node-exporter, util-linux and
// numactl and caches it under /var/cache/lxcfs-go-test (as
// tests/realsystemd does, with a cache of its own).
//
// What a run creates, and removes even when a test fails: an overlay
// mount on a temporary directory per container, a runc container
// lxcfs-go-test-realtools-* (killed and deleted by runc, which removes its
// cgroups of that name), an LXC container lxcfs-go-test-* in a temporary
// LXC path (killed by lxc-stop, which removes its lxc.payload.* and
// lxc.monitor.* cgroups; the lxc.pivot cgroups LXC makes on the way are
// removed), the daemon's mount on a temporary directory.
package realtools

import (
	"os"
	"os/exec"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

const enableEnv = "LXCFS_GO_REAL_TOOLS"

func TestMain(m *testing.M) { testenv.Main(m) }

// requireRealTools skips unless the suite is asked for, and fails when
// debootstrap or the runtime's tools (runtime "runc" or "lxc") are missing.
func requireRealTools(t *testing.T, runtime string) {
	t.Helper()
	if os.Getenv(enableEnv) != "1" {
		t.Skipf("debootstraps a Debian rootfs with the tools and runs it under runc and LXC; set %s=1 (make e2e-tools)", enableEnv)
	}
	testenv.RequireMountAndCgroups(t)
	type tool struct{ bin, pkg string }
	need := map[string][]tool{
		"runc": {{"runc", "runc"}, {"nsenter", "util-linux"}},
		"lxc":  {{"lxc-execute", "lxc"}, {"lxc-attach", "lxc"}},
	}[runtime]
	for _, tl := range append([]tool{{"debootstrap", "debootstrap"}}, need...) {
		if _, err := exec.LookPath(tl.bin); err != nil {
			t.Fatalf("%s is missing: apt-get install %s", tl.bin, tl.pkg)
		}
	}
}

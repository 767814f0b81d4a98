package v2vm

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/v2vm/wire"
)

// Environment knobs (see README.md).
const (
	envCache      = "LXCFS_GO_VM_CACHE"       // kernel/busybox cache (default /var/cache/lxcfs-go/v2vm)
	envOut        = "LXCFS_GO_VM_OUT"         // build outputs and console log (default tests/v2vm/out)
	envTimeout    = "LXCFS_GO_VM_TIMEOUT"     // hard limit for one boot (default 8m, capped by -timeout)
	envKernelPkg  = "LXCFS_GO_VM_KERNEL_PKG"  // kernel metapackage (default linux-image-cloud-amd64)
	envScenarios  = "LXCFS_GO_VM_SCENARIOS"   // regexp on guest scenario names (default: from -run)
	envDaemonArgs = "LXCFS_GO_VM_DAEMON_ARGS" // extra daemon options, e.g. "-d"
	envITestRun   = "LXCFS_GO_VM_ITEST_RUN"   // -test.run for the integration tests (default: from -run)
	envITestSkip  = "LXCFS_GO_VM_ITEST_SKIP"  // -test.skip for the integration tests (default: defaultITestSkip)
	envMemory     = "LXCFS_GO_VM_MEM"         // guest RAM in MiB (default 2048)
	// envAccel picks qemu's accelerator: tcg by default. /dev/kvm exists on
	// this project's machines but nested KVM fails there (qemu aborts
	// setting MSR 0x10a), so kvm is opt-in.
	envAccel       = "LXCFS_GO_VM_ACCEL"
	defaultCache   = "/var/cache/lxcfs-go/v2vm"
	defaultKernel  = "linux-image-cloud-amd64"
	defaultTimeout = 8 * time.Minute
	// integrationPkg is built with go test -c and run inside the VM.
	integrationPkg = "tests/integration"
)

// TestV2VM boots a throwaway VM with Debian's cloud kernel on a pure cgroup2
// hierarchy and turns what its guest reports into subtests:
// TestV2VM/<scenario>/<check>..., and TestV2VM/integration/<Test> for the
// integration tests run inside it.
func TestV2VM(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM (about 20 s under TCG); skipped with -short")
	}
	logf := t.Logf
	root := repoRoot(t)
	out := envOr(envOut, filepath.Join(root, "tests", "v2vm", "out"))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cache := cacheDir(t)
	var a aptState

	tq := time.Now()
	qemu, err := ensureQEMU(&a, logf)
	skipIfUnavailable(t, err)
	logf("qemu: %s (%v)", qemu, time.Since(tq).Round(time.Millisecond))

	t0 := time.Now()
	k, err := prepareKernel(cache, envOr(envKernelPkg, defaultKernel), &a, logf)
	skipIfUnavailable(t, err)
	logf("kernel %s %s (%s) ready in %v: modules %v, built in %v, missing %v",
		k.Package, k.Version, k.Release, time.Since(t0).Round(time.Millisecond), moduleNames(k), k.Builtin, k.Missing)
	bb, err := prepareBusybox(cache, &a, logf)
	skipIfUnavailable(t, err)

	// Build the guest, the daemon and the integration tests in parallel.
	goBin := goTool(t)
	t1 := time.Now()
	bins := map[string]*buildResult{
		"guest":       {Out: filepath.Join(out, "guest")},
		"daemon":      {Out: filepath.Join(out, "lxcfs-go")},
		"integration": {Out: filepath.Join(out, "integration.test")},
	}
	var wg sync.WaitGroup
	build := func(b *buildResult, args ...string) {
		defer wg.Done()
		s := time.Now()
		b.Err = goBuild(goBin, root, args...)
		b.Dur = time.Since(s)
	}
	wg.Add(2)
	go build(bins["guest"], "build", "-o", bins["guest"].Out, "./tests/v2vm/guest")
	go build(bins["daemon"], "build", "-o", bins["daemon"].Out, "./cmd/lxcfs-go")
	if hasGoFiles(filepath.Join(root, integrationPkg)) {
		wg.Add(1)
		go build(bins["integration"], "test", "-c", "-o", bins["integration"].Out, "./"+integrationPkg)
	} else {
		bins["integration"].Err = fmt.Errorf("%w: %s has no Go files", errNoPackage, integrationPkg)
	}
	wg.Wait()
	logf("builds done in %v (guest %v, daemon %v, integration %v)", time.Since(t1).Round(time.Millisecond),
		bins["guest"].Dur.Round(time.Millisecond), bins["daemon"].Dur.Round(time.Millisecond),
		bins["integration"].Dur.Round(time.Millisecond))
	if err := bins["guest"].Err; err != nil {
		t.Fatalf("building the guest: %v", err)
	}
	cfg := wire.Config{
		IntegrationDir: guestSrc + "/" + integrationPkg,
		DaemonArgs:     strings.Fields(os.Getenv(envDaemonArgs)),
	}
	cfg.Run, cfg.IntegrationRun = scenarioFilter()
	if cfg.Run != "" || cfg.IntegrationRun != "" {
		logf("guest runs scenarios matching %q, integration tests matching %q", cfg.Run, cfg.IntegrationRun)
	}
	in := initramfs{Busybox: bb, Guest: bins["guest"].Out, Kernel: k, RepoRoot: root, IntegrationDir: integrationPkg,
		HostTools: hostTools("sh", "unshare", "nsenter")}
	if err := bins["daemon"].Err; err != nil {
		cfg.DaemonMissing = err.Error()
		logf("daemon did not build; its scenarios will skip:\n%v", err)
	} else {
		in.Daemon = bins["daemon"].Out
	}
	if err := bins["integration"].Err; err != nil {
		cfg.IntegrationMissing = err.Error()
		logf("integration tests not run in the VM: %v", err)
	} else {
		in.Integration = bins["integration"].Out
	}

	timeout := defaultTimeout
	if v := os.Getenv(envTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", envTimeout, v, err)
		}
		timeout = d
	}
	if dl, ok := t.Deadline(); ok {
		if left := time.Until(dl) - 20*time.Second; left < timeout {
			timeout = left
		}
	}
	if timeout < 30*time.Second {
		t.Fatalf("only %v left for the VM; raise go test -timeout", timeout)
	}
	// The guest's own watchdog fires first, so a hung scenario still gives
	// results for the others.
	cfg.TimeoutSeconds = int((timeout - 15*time.Second).Seconds())
	// The integration tests get 5 minutes, or, under a shorter limit, what
	// is left after a minute for the boot and the scenarios (a few seconds
	// in practice).
	cfg.IntegrationSkip = defaultITestSkip
	if v, ok := os.LookupEnv(envITestSkip); ok {
		cfg.IntegrationSkip = v
	}
	cfg.IntegrationTimeout = fmt.Sprintf("%ds", min(300, max(60, cfg.TimeoutSeconds-60)))

	in.Config = cfg
	initrd := filepath.Join(out, "initramfs.cpio")
	t2 := time.Now()
	if err := writeInitramfs(initrd, in); err != nil {
		t.Fatalf("initramfs: %v", err)
	}
	st, _ := os.Stat(initrd)
	logf("initramfs %s: %d MiB in %v", initrd, st.Size()>>20, time.Since(t2).Round(time.Millisecond))

	mem := 2048
	if v := os.Getenv(envMemory); v != "" {
		if mem, err = strconv.Atoi(v); err != nil {
			t.Fatalf("%s=%q: %v", envMemory, v, err)
		}
	}
	spec := vmSpec{
		QEMU: qemu, Kernel: filepath.Join(k.Dir, k.Vmlinuz), Initramfs: initrd,
		Append: "console=ttyS0 psi=1 panic=-1 quiet tsc=reliable unknown_nmi_panic panic_print=0x1",
		Accel:  envOr(envAccel, "tcg"), MemoryMB: mem, CPUs: 2, Log: filepath.Join(out, "console.log"), Timeout: timeout, Logf: logf,
	}
	writeRunScript(filepath.Join(out, "run-qemu.sh"), spec)
	spec.QMP = filepath.Join(t.TempDir(), "qmp.sock")
	run, err := runVM(context.Background(), spec)
	skipIfUnavailable(t, err)
	if run.Frozen && run.Done == nil {
		// The whole guest stopped, its own watchdog too: its kernel or
		// the emulator, which no code of ours can do (CI saw it once, in
		// 8 minutes of silence). Boot once more; the frozen boot's
		// console log, with every guest task's stack, is kept.
		frozen := filepath.Join(out, "console-frozen.log")
		_ = os.Rename(spec.Log, frozen)
		logf("the guest froze (silent %v, and %v more after a poke); its tasks' stacks are in %s; booting once more", pokeAfter, pokeAfter, frozen)
		if left := timeout - run.Exited; left < 2*time.Minute {
			t.Fatalf("the guest froze and only %v is left to boot it again; console log %s:\n%s", left, frozen, tailFile(frozen, 60))
		} else {
			spec.Timeout = left
		}
		run, err = runVM(context.Background(), spec)
		skipIfUnavailable(t, err)
	}
	logf("boot-to-first-record %v, boot-to-result %v, qemu exited after %v, guest uptime at DONE %.2fs",
		run.FirstRecord.Round(time.Millisecond), run.DoneAt.Round(time.Millisecond),
		run.Exited.Round(time.Millisecond), doneUptime(run))
	for _, i := range run.Infos {
		logf("guest %s: %s", i.Name, i.Text)
	}
	for _, p := range run.Pokes {
		// A newline on a serial input nothing reads can only wake the
		// guest's kernel: a guest that printed again at once had been
		// waiting for a wake-up of the emulated machine, not hung in our
		// code.
		logf("the guest was silent for %v and poked at %v; printed again after it: %v (%v later)",
			pokeAfter, p.At.Round(time.Second), p.Resumed, p.After.Round(time.Millisecond))
	}
	for _, e := range run.BadLines {
		t.Errorf("malformed guest record: %v", e)
	}

	report(t, run, goBin)

	switch {
	case run.TimedOut:
		t.Errorf("the VM did not finish within %v; it was sent an NMI, so the console log ends with every guest task's stack if its kernel still ran (console log %s):\n%s",
			timeout, spec.Log, tailFile(spec.Log, 60))
	case run.Done == nil:
		t.Errorf("the guest did not report DONE (%v); console log %s:\n%s", run.Err, spec.Log, tailFile(spec.Log, 60))
	case run.Done.RC == 124:
		t.Errorf("the guest's watchdog fired (%ds): a scenario hung, see its <scenario>/watchdog subtest and the console log %s:\n%s",
			cfg.TimeoutSeconds, spec.Log, tailFile(spec.Log, 30))
	case run.Done.RC != countFails(run.Results):
		t.Errorf("guest says %d checks failed, %d failure records arrived (console log %s)",
			run.Done.RC, countFails(run.Results), spec.Log)
	}
	if t.Failed() {
		t.Logf("console log kept at %s; rerun the VM by hand with %s", spec.Log, filepath.Join(out, "run-qemu.sh"))
	}
}

func doneUptime(r *vmRun) float64 {
	if r.Done == nil {
		return 0
	}
	return r.Done.Uptime
}

func countFails(rs []wire.Result) int {
	n := 0
	for _, r := range rs {
		if r.Status == wire.Fail {
			n++
		}
	}
	return n
}

func moduleNames(k *kernel) []string {
	var n []string
	for _, m := range k.Modules {
		n = append(n, m.Name)
	}
	return n
}

func skipIfUnavailable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, errUnavailable) {
		t.Skipf("cannot run the v2 VM here: %v", err)
	}
	t.Fatal(err)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", wd, err)
	}
	return root
}

// cacheDir is LXCFS_GO_VM_CACHE, else /var/cache/lxcfs-go/v2vm when it can
// be made (root), else the user's cache directory.
func cacheDir(t *testing.T) string {
	t.Helper()
	if v := os.Getenv(envCache); v != "" {
		if err := os.MkdirAll(v, 0o755); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := os.MkdirAll(defaultCache, 0o755); err == nil {
		return defaultCache
	}
	uc, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no cache directory: set %s", envCache)
	}
	d := filepath.Join(uc, "lxcfs-go", "v2vm")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func goTool(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if g := os.Getenv("GOROOT"); g != "" {
		return filepath.Join(g, "bin", "go")
	}
	t.Skip("no go command in PATH to build the guest")
	return ""
}

// ensureQEMU finds qemu-system-x86_64, installing the Debian package
// qemu-system-x86 when it is absent and we are root.
func ensureQEMU(a *aptState, logf func(string, ...any)) (string, error) {
	const bin = "qemu-system-x86_64"
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: %s not installed and not root to apt-get install qemu-system-x86", errUnavailable, bin)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("%w: %s not installed and no apt-get", errUnavailable, bin)
	}
	logf("installing qemu-system-x86")
	err := a.withUpdate(logf, func() error {
		_, err := apt("apt-get", "install", "-y", "--no-install-recommends", "qemu-system-x86")
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%w: apt-get install qemu-system-x86: %v", errUnavailable, err)
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w: %s still missing after installing qemu-system-x86", errUnavailable, bin)
	}
	return p, nil
}

// writeRunScript saves the qemu command line for rerunning the VM by hand.
func writeRunScript(p string, s vmSpec) {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Boots the last v2vm VM again; the console goes to stdout.\nexec")
	for _, a := range s.qemuArgs() {
		b.WriteString(" '" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	b.WriteString("\n")
	_ = os.WriteFile(p, []byte(b.String()), 0o755)
}

// scenarioFilter derives the guest's scenario pattern and the integration
// tests' -test.run from go test's -run: "TestV2VM/limited" runs only the
// limited scenario in the guest, "TestV2VM/integration/TestFoo" only
// TestFoo of the integration tests. The environment overrides both.
func scenarioFilter() (run, itestRun string) {
	if f := flag.Lookup("test.run"); f != nil {
		levels := splitRegexp(f.Value.String())
		if len(levels) > 1 {
			run = levels[1]
			if len(levels) > 2 {
				if re, err := regexp.Compile(run); err == nil && re.MatchString("integration") {
					itestRun = strings.Join(levels[2:], "/")
				}
			}
		}
	}
	return envOr(envScenarios, run), envOr(envITestRun, itestRun)
}

// splitRegexp splits a -run pattern on the slashes that separate test
// levels, like the testing package does (not inside [] or ()).
func splitRegexp(s string) []string {
	var out []string
	cs, cp := 0, 0
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			cs++
		case ']':
			if cs--; cs < 0 {
				cs = 0
			}
		case '(':
			if cs == 0 {
				cp++
			}
		case ')':
			if cs == 0 {
				cp--
			}
		case '\\':
			i++
		case '/':
			if cs == 0 && cp == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// defaultITestSkip leaves out, inside the VM, the integration tests about the
// FUSE connection's life cycle (upgrade, crash, heal) and the long soak: they
// do not depend on the cgroup layout, run on the host in every make test, and
// under TCG emulation would take minutes of the VM's time budget.
const defaultITestSkip = "^(TestUpgrade|TestCrash.*|TestHolderGrace|TestHolderRestartsCrashedDaemon|TestHolderCrashLoop|TestKeeperOutlivesDaemons|TestRemount.*|TestDeadMountpointAtStart|TestSoak)$"

// Command guest is PID 1 of the v2vm test VM: it mounts a pure cgroup2
// hierarchy, loads the kernel modules (fuse, null_blk, zram), runs the v2
// scenarios against the lxcfs-go daemon and, when present, the integration
// test binary, and reports every check on the serial console in the
// tests/v2vm/wire line protocol. Then it powers the VM off.
//
// The same binary has helper modes used by the scenarios:
//
//	/init read OP...     a reader: performs OPs (cat:PATH, ls:PATH) and prints JSON
//	/init ctinit JSON    the init of a container-like pid namespace
//
// It is built static (CGO_ENABLED=0) by the host-side test.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/tests/v2vm/wire"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "read":
			os.Exit(readerMain(os.Args[2:]))
		case "ctinit":
			os.Exit(ctinitMain(os.Args[2:]))
		}
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guest: runs as PID 1 of the v2vm VM, or as: guest read OP... | guest ctinit JSON")
		os.Exit(2)
	}
	initMain()
}

// console serialises lines to the serial console: the guest is its only
// writer (children's output is piped through it), so protocol lines are
// never torn.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *console) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, s+"\n")
}

// guest holds the state of the run.
type guest struct {
	cfg   wire.Config
	con   *console
	mu    sync.Mutex
	fails int
	start time.Time
	run   *regexp.Regexp

	current string          // the scenario running, for the watchdog's report
	modules map[string]bool // loaded
	nullDev string          // null_blk's "major:minor", set by nullBlk
	daemon  *daemon         // the default daemon, when started
	cfs     *daemon         // the --enable-cfs daemon, when started
}

func (g *guest) result(r wire.Result) {
	if r.Status == wire.Fail {
		g.mu.Lock()
		g.fails++
		g.mu.Unlock()
	}
	g.con.line(wire.FormatResult(r))
}

func (g *guest) info(name, text string) {
	g.con.line(wire.FormatInfo(wire.Info{Name: name, Text: text}))
}

func (g *guest) logf(format string, args ...any) {
	g.con.line(fmt.Sprintf("v2vm-guest: "+format, args...))
}

func (g *guest) pass(name, file, field, got string) {
	g.result(wire.Result{Name: name, Status: wire.Pass, File: file, Field: field, Got: got})
}

func (g *guest) skip(name, msg string) {
	g.result(wire.Result{Name: name, Status: wire.Skip, Msg: msg})
}

// failErr records a check that could not even be made (a read failed).
func (g *guest) failErr(name, file string, err error, detail string) {
	g.result(wire.Result{Name: name, Status: wire.Fail, File: file, Msg: err.Error(), Detail: detail})
}

// expect records whether got == want for one field of one file.
func (g *guest) expect(name, file, field, got, want, detail string) bool {
	r := wire.Result{Name: name, Status: wire.Pass, File: file, Field: field, Got: got, Want: want, Detail: detail}
	if got != want {
		r.Status = wire.Fail
	}
	g.result(r)
	return got == want
}

// expectThat records a check whose condition is not equality; want says
// the condition ("<= 262144").
func (g *guest) expectThat(ok bool, name, file, field, got, want, detail string) bool {
	r := wire.Result{Name: name, Status: wire.Pass, File: file, Field: field, Got: got, Want: want, Detail: detail}
	if !ok {
		r.Status = wire.Fail
	}
	g.result(r)
	return ok
}

func initMain() {
	g := &guest{con: &console{w: os.Stdout}, start: time.Now(), modules: map[string]bool{}}
	mountErr := mountBase()
	if mountErr != nil {
		// Without /dev the console may be the kernel's initial one only;
		// still try to report.
		g.failErr("boot/mounts", "", mountErr, "")
	}
	reopenConsole(g)
	g.logf("started, kernel uptime %.2fs", uptime())

	if err := readConfig(&g.cfg); err != nil {
		g.failErr("boot/config", wire.ConfigPath, err, "")
	}
	if g.cfg.Run != "" {
		re, err := regexp.Compile(g.cfg.Run)
		if err != nil {
			g.failErr("boot/config", wire.ConfigPath, fmt.Errorf("run pattern: %w", err), "")
		} else {
			g.run = re
		}
	}
	if g.cfg.TimeoutSeconds > 0 {
		time.AfterFunc(time.Duration(g.cfg.TimeoutSeconds)*time.Second, func() {
			g.mu.Lock()
			cur := g.current
			g.mu.Unlock()
			g.result(wire.Result{Name: cur + "/watchdog", Status: wire.Fail,
				Msg: fmt.Sprintf("the guest did not finish within %ds: scenario %s hung", g.cfg.TimeoutSeconds, cur)})
			g.con.line(wire.FormatDone(wire.Done{RC: 124, Uptime: uptime()}))
			powerOff()
		})
	}
	if mountErr == nil {
		g.runAll()
	}
	g.mu.Lock()
	rc := g.fails
	g.mu.Unlock()
	g.logf("finished in %.2fs", time.Since(g.start).Seconds())
	g.con.line(wire.FormatDone(wire.Done{RC: rc, Uptime: uptime()}))
	powerOff()
}

func readConfig(cfg *wire.Config) error {
	b, err := os.ReadFile(wire.ConfigPath)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, cfg)
}

type mountSpec struct {
	src, dst, fstype string
	flags            uintptr
	data             string
}

func mountBase() error {
	const nosuid = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, m := range []mountSpec{
		{"proc", "/proc", "proc", nosuid, ""},
		{"sysfs", "/sys", "sysfs", nosuid, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"cgroup2", cgRoot, "cgroup2", nosuid, "nsdelegate"},
	} {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount -t %s %s: %w", m.fstype, m.dst, err)
		}
	}
	for _, d := range []string{"/dev/pts", "/dev/shm", "/mnt/lxcfs", "/mnt/lxcfs-cfs"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// reopenConsole points fds 0-2 at /dev/console if the kernel could not open
// one for us (it normally can: the initramfs has /dev/console).
func reopenConsole(g *guest) {
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		_ = unix.Dup2(fd, i)
	}
	g.con.w = os.Stdout
}

func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	var up float64
	_, _ = fmt.Sscanf(string(b), "%f", &up)
	return up
}

func powerOff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// If power-off failed, exiting PID 1 panics the kernel, which reboots
	// (panic=-1), which qemu -no-reboot turns into an exit.
	os.Exit(1)
}

// enter records the scenario now running.
func (g *guest) enter(name string) {
	g.mu.Lock()
	g.current = name
	g.mu.Unlock()
}

// selected reports whether a scenario runs under the configured pattern.
func (g *guest) selected(name string) bool {
	return g.run == nil || g.run.MatchString(name)
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return strings.TrimRight(string(u.Release[:]), "\x00")
}

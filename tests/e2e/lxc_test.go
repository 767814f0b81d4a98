package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

// lxcContainer is an LXC container in a private LXC path, started from
// the commands of docs/lxc.md.
type lxcContainer struct {
	t *testing.T
	*testenv.LXC
	started time.Time
}

// sub turns a docs/lxc.md command line into one for this container: the
// private LXC path, its name and config file.
func (c *lxcContainer) sub(line, conf string) []string {
	fields := strings.Fields(line)
	var out []string
	for i, f := range fields {
		switch {
		case f == "demo" && i > 0 && fields[i-1] == "-n":
			out = append(out[:len(out)-1], "-P", c.Path, "-n", c.Name)
		case f == "demo.conf":
			out = append(out, conf)
		case f == "/tmp/demo.log":
			out = append(out, c.Log)
		default:
			out = append(out, f)
		}
	}
	return out
}

func (c *lxcContainer) start() {
	c.t.Helper()
	for _, line := range strings.Split(docBlock(c.t, "lxc.md", "lxc-not-running"), "\n") {
		if strings.HasPrefix(line, "lxc-start ") {
			args := c.sub(line, "")
			mustRun(c.t, args[0], args[1:]...)
			c.started = time.Now()
			mustRun(c.t, "lxc-wait", "-P", c.Path, "-n", c.Name, "-s", "RUNNING", "-t", "10")
			return
		}
	}
	c.t.Fatal("docs/lxc.md: no lxc-start line in block lxc-not-running")
}

func (c *lxcContainer) stop() {
	c.t.Helper()
	// busybox's init halts on SIGUSR1 (lxc.signal.halt in its config).
	mustRun(c.t, "lxc-stop", "-P", c.Path, "-n", c.Name, "-t", "10")
}

func (c *lxcContainer) sh(cmdline string) (string, error) {
	argv := c.Attach("/bin/sh", "-c", cmdline)
	return command(30*time.Second, argv[0], argv[1:]...)
}

// TestLXC runs a busybox LXC container with the mount hook of hooks/ and the
// configuration of docs/lxc.md, on a daemon of its own.
func TestLXC(t *testing.T) {
	testenv.RequireMountAndCgroups(t)
	ensureTools(t, tool{"lxc-create", "lxc"}, tool{"busybox", "busybox-static"})
	daemon := testenv.StartDaemon(t)
	cpu := hostCPU(t)

	c := &lxcContainer{t: t, LXC: testenv.NewLXC(t)}

	block := "lxc-config-v1"
	if !cgroupV1Memory(t) {
		block = "lxc-config-v2"
	}
	config := docBlock(t, "lxc.md", block)
	config = strings.ReplaceAll(config, "/usr/share/lxcfs-go/", repo(t, "hooks")+"/")
	config = strings.ReplaceAll(config, "--lxcfs-dir /var/lib/lxcfs", "--lxcfs-dir "+daemon.Mnt)
	config = regexp.MustCompile(`(?m)^(lxc\.cgroup2?\.cpuset\.cpus = )1$`).ReplaceAllString(config, "${1}"+strconv.Itoa(cpu))
	conf := filepath.Join(c.Path, "demo.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	var attach []string
	for _, line := range strings.Split(docBlock(t, "lxc.md", "lxc-commands"), "\n") {
		switch {
		case strings.HasPrefix(line, "lxc-create "):
			args := c.sub(line, conf)
			mustRun(t, args[0], args[1:]...)
		case strings.HasPrefix(line, "lxc-start "):
			args := append(c.sub(line, conf), "-l", "DEBUG", "-o", c.Log)
			mustRun(t, args[0], args[1:]...)
			c.started = time.Now()
			mustRun(t, "lxc-wait", "-P", c.Path, "-n", c.Name, "-s", "RUNNING", "-t", "10")
		case strings.HasPrefix(line, "lxc-attach "):
			attach = append(attach, line)
		}
	}
	if c.started.IsZero() || len(attach) == 0 {
		t.Fatal("docs/lxc.md block lxc-commands lacks lxc-start or lxc-attach lines")
	}
	if up := hostUptime(t); up < time.Since(c.started).Seconds()+10 {
		t.Logf("the host booted %.0fs ago: the uptime check cannot tell host from container", up)
	}

	// The page's own commands, with the values its comments promise.
	for _, line := range attach {
		cmd, comment, _ := strings.Cut(line, "#")
		args := c.sub(cmd, conf)
		out, err := command(30*time.Second, args[0], args[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSpace(comment)
		if strings.HasSuffix(strings.TrimSpace(cmd), "/online") {
			want = strconv.Itoa(cpu)
		}
		if want == "the container's age" {
			continue // checkView bounds it
		}
		if got := strings.Join(strings.Fields(out), " "); got != want {
			t.Errorf("%s: got %q, want %q", strings.TrimSpace(cmd), got, want)
		}
	}
	checkView(t, c.sh, cpu, time.Since(c.started))

	t.Run("restart", func(t *testing.T) {
		c.t = t
		c.stop()
		c.start()
		checkView(t, c.sh, cpu, time.Since(c.started))
	})

	t.Run("daemon not running", func(t *testing.T) {
		c.t = t
		c.stop()
		if err := daemon.Stop(); err != nil {
			t.Fatal(err)
		}
		os.Remove(c.Log)
		c.start() // the container starts all the same
		out, err := c.sh("cat /proc/meminfo")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := memTotal(out), hostMemTotal(t); got != want {
			t.Errorf("MemTotal = %q without the daemon, want the host's %q", got, want)
		}
		log, err := os.ReadFile(c.Log)
		if err != nil {
			t.Fatal(err)
		}
		want := "lxcfs-go-mount-hook: lxcfs-go is not mounted at " + daemon.Mnt
		if !strings.Contains(string(log), want) {
			t.Errorf("the LXC log does not have %q:\n%s", want, testenv.GrepLines(string(log), "hook"))
		}
		// The page shows the message the user will find.
		page := docBlock(t, "lxc.md", "lxc-not-running")
		if !strings.Contains(page, "lxcfs-go-mount-hook: lxcfs-go is not mounted at /var/lib/lxcfs: the container keeps the host's /proc and /sys files") {
			t.Error("docs/lxc.md shows another message than the hook prints")
		}
	})
}

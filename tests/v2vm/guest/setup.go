package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// bootChecks: the kernel gives a pure cgroup2 hierarchy with every
// controller, PSI, 2 CPUs, and the modules load.
func (g *guest) bootChecks() {
	g.info("boot/kernel", kernelRelease())
	var st unix.Statfs_t
	if err := unix.Statfs(cgRoot, &st); err != nil {
		g.failErr("boot/cgroup2", cgRoot, err, "")
	} else {
		g.expect("boot/cgroup2", cgRoot, "statfs f_type",
			fmt.Sprintf("%#x", st.Type), fmt.Sprintf("%#x", unix.CGROUP2_SUPER_MAGIC), "")
	}
	// Pure v2: no cgroup v1 mount anywhere.
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err != nil {
		g.failErr("boot/no-cgroup-v1", "/proc/self/mountinfo", err, "")
	} else {
		var v1 []string
		for _, line := range strings.Split(string(mi), "\n") {
			if _, post, ok := strings.Cut(line, " - "); ok && strings.HasPrefix(post, "cgroup ") {
				v1 = append(v1, line)
			}
		}
		g.expect("boot/no-cgroup-v1", "/proc/self/mountinfo", "cgroup (v1) mounts",
			strings.Join(v1, "\n"), "", "")
	}

	ctrls, err := readTrim(path.Join(cgRoot, "cgroup.controllers"))
	if err != nil {
		g.failErr("boot/controllers", path.Join(cgRoot, "cgroup.controllers"), err, "")
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(ctrls) {
		have[c] = true
	}
	for _, c := range []string{"cpuset", "cpu", "io", "memory", "pids"} {
		g.expect("boot/controllers/"+c, path.Join(cgRoot, "cgroup.controllers"), c,
			fmt.Sprint(have[c]), "true", ctrls)
	}
	sc := path.Join(cgRoot, "cgroup.subtree_control")
	if err := writeFile(sc, controllers); err != nil {
		g.failErr("boot/subtree_control", sc, err, "")
	} else {
		got, _ := readTrim(sc)
		g.expect("boot/subtree_control", sc, "enabled controllers", got, "cpuset cpu io memory pids", "")
	}

	for _, res := range []string{"cpu", "io", "memory"} {
		p := "/proc/pressure/" + res
		b, err := os.ReadFile(p)
		if err != nil {
			g.failErr("boot/psi/"+res, p, err, "psi=1 on the kernel command line")
			continue
		}
		if _, err := parsePressure(string(b)); err != nil {
			g.failErr("boot/psi/"+res, p, err, string(b))
			continue
		}
		g.pass("boot/psi/"+res, p, "", strings.TrimSpace(string(b)))
	}
	online, _ := readTrim("/sys/devices/system/cpu/online")
	g.expect("boot/cpus", "/sys/devices/system/cpu/online", "", online, "0-1", "qemu -smp 2")

	for _, m := range g.cfg.Modules {
		name := "boot/modules/" + m.Name
		if err := loadModule(m.Path, m.Params); err != nil {
			g.failErr(name, m.Path, err, "params: "+m.Params)
			continue
		}
		g.modules[m.Name] = true
		g.pass(name, m.Path, "", m.Params)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		g.failErr("boot/dev-fuse", "/dev/fuse", err, "fuse.ko loaded: "+fmt.Sprint(g.modules["fuse"]))
	} else {
		g.pass("boot/dev-fuse", "/dev/fuse", "", "")
	}
}

func loadModule(file, params string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), params, 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finit_module: %w (see dmesg in the console log)", err)
	}
	return nil
}

// busybox runs a busybox applet and returns its combined output.
func busybox(args ...string) (string, error) {
	out, err := exec.Command("/bin/busybox", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("busybox %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// zramSwap makes a 256 MiB zram device the VM's swap, so the swap limits
// (memory.swap.max) have something to limit.
func (g *guest) zramSwap() {
	const name = "zram/swap"
	if !g.modules["zram"] {
		g.skip(name, "zram.ko not loaded (missing from the kernel package or failed to load, see boot/modules)")
		return
	}
	sysdir := "/sys/block/zram0"
	if _, err := os.Stat(sysdir); err != nil {
		g.failErr(name, sysdir, err, "")
		return
	}
	algos, _ := readTrim(path.Join(sysdir, "comp_algorithm"))
	g.info("zram/comp_algorithm", algos)
	if err := writeFile(path.Join(sysdir, "disksize"), "256M"); err != nil {
		g.failErr(name, path.Join(sysdir, "disksize"), err, "comp_algorithm: "+algos)
		return
	}
	if _, err := busybox("mkswap", "/dev/zram0"); err != nil {
		g.failErr(name, "/dev/zram0", err, "")
		return
	}
	if _, err := busybox("swapon", "/dev/zram0"); err != nil {
		g.failErr(name, "/dev/zram0", err, "")
		return
	}
	swaps, _ := os.ReadFile("/proc/swaps")
	g.expectThat(bytes.Contains(swaps, []byte("/dev/zram0")), name, "/proc/swaps", "Filename",
		strings.TrimSpace(string(swaps)), "a /dev/zram0 line", "")
	if m, err := hostMeminfo(); err == nil {
		g.info("zram/SwapTotal", fmt.Sprintf("%d kB", m.kB["SwapTotal"]))
	}
}

// The null_blk I/O cgroups: io-a writes and reads the device, io-b does not.
const (
	cgIOA        = cgBase + "/io-a"
	cgIOB        = cgBase + "/io-b"
	ioWriteBlock = 4096
	ioWrites     = 256
	ioReads      = 16
)

// nullBlk does a known amount of direct I/O on /dev/nullb0 from io-a and
// checks io.stat; the diskstats scenario checks the daemon against it.
func (g *guest) nullBlk() {
	if !g.modules["null_blk"] {
		g.skip("nullblk", "null_blk.ko not loaded (see boot/modules)")
		return
	}
	dev, err := readTrim("/sys/block/nullb0/dev")
	if err != nil {
		g.failErr("nullblk/device", "/sys/block/nullb0/dev", err, "")
		return
	}
	g.nullDev = dev
	g.pass("nullblk/device", "/sys/block/nullb0/dev", "", dev)
	for _, cg := range []string{cgIOA, cgIOB} {
		if err := mkcg(cg); err != nil {
			g.failErr("nullblk/cgroups", cgPath(cg), err, "")
			return
		}
	}
	t0 := time.Now()
	if _, err := spawnDD(cgIOA, "if=/dev/zero", "of=/dev/nullb0", fmt.Sprint("bs=", ioWriteBlock),
		fmt.Sprint("count=", ioWrites), "oflag=direct"); err != nil {
		g.failErr("nullblk/dd-write", "/dev/nullb0", err, "")
		return
	}
	if _, err := spawnDD(cgIOA, "if=/dev/nullb0", "of=/dev/null", fmt.Sprint("bs=", ioWriteBlock),
		fmt.Sprint("count=", ioReads), "iflag=direct"); err != nil {
		g.failErr("nullblk/dd-read", "/dev/nullb0", err, "")
		return
	}
	g.info("nullblk/dd-time", time.Since(t0).String())
	statA, err := cgRead(cgIOA, "io.stat")
	if err != nil {
		g.failErr("nullblk/io.stat", cgPath(cgIOA)+"/io.stat", err, "")
		return
	}
	g.info("nullblk/io-a/io.stat", statA)
	file := cgPath(cgIOA) + "/io.stat"
	m := ioStat(statA, dev)
	if m == nil {
		g.result(failf("nullblk/io.stat", file, dev, "no line for the device", statA))
		return
	}
	want := map[string]uint64{
		"wbytes": ioWriteBlock * ioWrites, "wios": ioWrites,
		"rbytes": ioWriteBlock * ioReads, "rios": ioReads,
	}
	for _, k := range []string{"rbytes", "wbytes", "rios", "wios"} {
		g.expect("nullblk/io.stat/"+k, file, dev+" "+k, fmt.Sprint(m[k]), fmt.Sprint(want[k]), statA)
	}
	statB, _ := cgRead(cgIOB, "io.stat")
	g.info("nullblk/io-b/io.stat", statB)
	g.expect("nullblk/io.stat/other-cgroup", cgPath(cgIOB)+"/io.stat", dev,
		fmt.Sprint(ioStat(statB, dev) != nil), "false", statB)
}

// spawnDD runs busybox dd born in the cgroup rel.
func spawnDD(rel string, args ...string) (string, error) {
	return spawnIn(rel, "/bin/busybox", append([]string{"dd"}, args...)...)
}

// spawnIn runs a program born in the cgroup rel and returns its combined
// output.
func spawnIn(rel, prog string, args ...string) (string, error) {
	fd, err := unix.Open(cgPath(rel), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	cmd := exec.Command(prog, args...)
	cmd.SysProcAttr = sysProcInCgroup(fd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

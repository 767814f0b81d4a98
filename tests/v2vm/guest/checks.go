package main

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/tests/v2vm/wire"
)

// Every expectation below is computed from the cgroup files the daemon must
// read (memory.max, memory.swap.max, cpu.max, cpuset.cpus.effective,
// cpu.stat, *.pressure, io.stat) and from the guest's real /proc, never
// hard-coded, so the checks say why a number is right. ct is the container's
// cgroup (relative to the root) whose limits the reader must see.

func failf(name, file, field, msg, detail string) wire.Result {
	return wire.Result{Name: name, Status: wire.Fail, File: file, Field: field, Msg: msg, Detail: detail}
}

// fullOps are the operations a reader does on the mount mnt.
func fullOps(mnt string) []string {
	var ops []string
	for _, f := range []string{"meminfo", "swaps", "cpuinfo", "stat", "uptime", "diskstats",
		"pressure/cpu", "pressure/io", "pressure/memory"} {
		ops = append(ops, "cat:"+mnt+"/proc/"+f)
	}
	sys := mnt + "/sys/devices/system/cpu"
	for _, f := range []string{"online", "present", "possible", "offline", "cpu0/online", "cpu1/online"} {
		ops = append(ops, "cat:"+sys+"/"+f)
	}
	return append(ops, "ls:"+sys)
}

func kB(m meminfo, key string) string {
	v, ok := m.kB[key]
	if !ok {
		return "<missing>"
	}
	return fmt.Sprintf("%d kB", v)
}

// checkMem checks meminfo and swaps as seen by out against ct's limits.
func (g *guest) checkMem(name, mnt, ct string, out readOut) {
	file := mnt + "/proc/meminfo"
	ctx := "reader " + out.Cgroup
	text, err := out.get("cat:" + file)
	if err != nil {
		g.failErr(name+"/meminfo", file, err, ctx)
		return
	}
	m, err := parseMeminfo(text)
	if err != nil {
		g.failErr(name+"/meminfo", file, err, text)
		return
	}
	host, err := hostMeminfo()
	if err != nil {
		g.failErr(name+"/meminfo", "/proc/meminfo", err, "")
		return
	}
	mem, memDetail, err := minLimit(ct, "memory.max")
	if err != nil {
		g.failErr(name+"/meminfo", cgPath(ct), err, "")
		return
	}
	want := host.kB["MemTotal"]
	if !mem.unlimited && mem.value/1024 < want {
		want = mem.value / 1024
	}
	detail := fmt.Sprintf("%s; min over ancestors of %s; host MemTotal %d kB", ctx, memDetail, host.kB["MemTotal"])
	g.expect(name+"/meminfo/MemTotal", file, "MemTotal", kB(m, "MemTotal"), fmt.Sprintf("%d kB", want), detail)
	total := m.kB["MemTotal"]
	for _, k := range []string{"MemFree", "MemAvailable"} {
		v, ok := m.kB[k]
		g.expectThat(ok && v <= total, name+"/meminfo/"+k, file, k, kB(m, k),
			fmt.Sprintf("<= MemTotal (%d kB)", total), ctx)
	}
	g.expect(name+"/meminfo/keys", file, "keys in order", strings.Join(m.keys, " "),
		strings.Join(host.keys, " "), "the host's /proc/meminfo is the template: same keys, same order")

	swap, swapDetail, err := minLimit(ct, "memory.swap.max")
	if err != nil {
		g.failErr(name+"/meminfo/SwapTotal", cgPath(ct), err, "")
		return
	}
	hostSwap := host.kB["SwapTotal"]
	wantSwap := hostSwap
	if !swap.unlimited && swap.value/1024 < wantSwap {
		wantSwap = swap.value / 1024
	}
	sdetail := fmt.Sprintf("%s; min over ancestors of %s; host SwapTotal %d kB", ctx, swapDetail, hostSwap)
	g.expect(name+"/meminfo/SwapTotal", file, "SwapTotal", kB(m, "SwapTotal"), fmt.Sprintf("%d kB", wantSwap), sdetail)
	free, ok := m.kB["SwapFree"]
	g.expectThat(ok && free <= m.kB["SwapTotal"], name+"/meminfo/SwapFree", file, "SwapFree", kB(m, "SwapFree"),
		fmt.Sprintf("<= SwapTotal (%d kB)", m.kB["SwapTotal"]), ctx)

	sfile := mnt + "/proc/swaps"
	stext, err := out.get("cat:" + sfile)
	if err != nil {
		g.failErr(name+"/swaps", sfile, err, ctx)
		return
	}
	lines := strings.Split(strings.TrimRight(stext, "\n"), "\n")
	var data [][]string
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 {
			data = append(data, f)
		}
	}
	if wantSwap == 0 {
		g.expect(name+"/swaps/lines", sfile, "device lines", fmt.Sprint(len(data)), "0", sdetail+"\n"+stext)
		return
	}
	if !g.expect(name+"/swaps/lines", sfile, "device lines", fmt.Sprint(len(data)), "1", sdetail+"\n"+stext) {
		return
	}
	size := "<missing>"
	if len(data[0]) >= 3 {
		size = data[0][2]
	}
	g.expect(name+"/swaps/Size", sfile, "Size", size, fmt.Sprint(wantSwap), sdetail+"\n"+stext)
}

// cpuExpect is the CPU view a container must get.
type cpuExpect struct {
	host   []int  // host CPU numbers it sees
	online string // sys/devices/system/cpu/online
	dirs   []int  // cpuN directories listed
	detail string
}

// expectCPUs computes the view of ct: its effective cpuset; under
// --enable-cfs (cfs) renumbered from 0 and cut to ceil(min quota/period).
func expectCPUs(ct string, cfs bool) (cpuExpect, error) {
	eff, err := cgRead(ct, "cpuset.cpus.effective")
	if err != nil {
		return cpuExpect{}, err
	}
	cpus, err := parseCPUList(eff)
	if err != nil {
		return cpuExpect{}, err
	}
	e := cpuExpect{host: cpus, online: eff, dirs: cpus,
		detail: fmt.Sprintf("%s/cpuset.cpus.effective=%q", ct, eff)}
	if !cfs {
		return e, nil
	}
	q, qdetail, err := minQuota(ct)
	if err != nil {
		return cpuExpect{}, err
	}
	e.detail += "; " + qdetail + "; --enable-cfs"
	if q > 0 && q < float64(len(cpus)) {
		e.host = cpus[:int(math.Ceil(q))]
	}
	e.dirs = nil
	for i := range e.host {
		e.dirs = append(e.dirs, i)
	}
	e.online = "0"
	if n := len(e.host); n > 1 {
		e.online = fmt.Sprintf("0-%d", n-1)
	}
	return e, nil
}

var (
	reProcessor = regexp.MustCompile(`(?m)^processor\s*:\s*(\d+)\s*$`)
	reStatCPU   = regexp.MustCompile(`(?m)^cpu(\d+) `)
	reCPUDir    = regexp.MustCompile(`^cpu(\d+)/$`)
)

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " ")
}

// checkCPU checks cpuinfo, stat's cpuN lines and the sys cpu tree.
func (g *guest) checkCPU(name, mnt, ct string, out readOut, cfs bool) {
	e, err := expectCPUs(ct, cfs)
	if err != nil {
		g.failErr(name+"/cpus", cgPath(ct), err, "")
		return
	}
	ctx := "reader " + out.Cgroup + "; " + e.detail
	n := len(e.host)
	seq := make([]int, n)
	for i := range seq {
		seq[i] = i
	}

	file := mnt + "/proc/cpuinfo"
	if text, err := out.get("cat:" + file); err != nil {
		g.failErr(name+"/cpuinfo", file, err, ctx)
	} else {
		var got []int
		for _, m := range reProcessor.FindAllStringSubmatch(text, -1) {
			v, _ := strconv.Atoi(m[1])
			got = append(got, v)
		}
		g.expect(name+"/cpuinfo/processor", file, "processor numbers", ints(got), ints(seq), ctx)
	}

	file = mnt + "/proc/stat"
	if text, err := out.get("cat:" + file); err != nil {
		g.failErr(name+"/stat", file, err, ctx)
	} else {
		var got []int
		for _, m := range reStatCPU.FindAllStringSubmatch(text, -1) {
			v, _ := strconv.Atoi(m[1])
			got = append(got, v)
		}
		want := e.host
		if cfs {
			want = seq
		}
		g.expect(name+"/stat/cpuN", file, "cpuN lines", ints(got), ints(want), ctx)
	}

	sys := mnt + "/sys/devices/system/cpu"
	for _, f := range []string{"online", "present", "possible"} {
		file := sys + "/" + f
		text, err := out.get("cat:" + file)
		if err != nil {
			g.failErr(name+"/sys/"+f, file, err, ctx)
			continue
		}
		g.expect(name+"/sys/"+f, file, "", strings.TrimSpace(text), e.online, ctx)
	}
	if text, err := out.get("cat:" + sys + "/offline"); err != nil {
		g.failErr(name+"/sys/offline", sys+"/offline", err, ctx)
	} else {
		g.expect(name+"/sys/offline", sys+"/offline", "", strings.TrimSpace(text), "", ctx)
	}
	if names, err := out.list("ls:" + sys); err != nil {
		g.failErr(name+"/sys/cpuN", sys, err, ctx)
	} else {
		var got []int
		for _, nm := range names {
			if m := reCPUDir.FindStringSubmatch(nm); m != nil {
				v, _ := strconv.Atoi(m[1])
				got = append(got, v)
			}
		}
		g.expect(name+"/sys/cpuN", sys, "cpuN directories", ints(got), ints(e.dirs), ctx+"\nlisting: "+strings.Join(names, " "))
	}
	for _, c := range e.dirs {
		if c > 1 {
			continue // fullOps reads cpu0 and cpu1 only (the VM has 2)
		}
		file := fmt.Sprintf("%s/cpu%d/online", sys, c)
		text, err := out.get("cat:" + file)
		if err != nil {
			g.failErr(fmt.Sprintf("%s/sys/cpu%d-online", name, c), file, err, ctx)
			continue
		}
		g.expect(fmt.Sprintf("%s/sys/cpu%d-online", name, c), file, "", strings.TrimSpace(text), "1", ctx)
	}
}

// checkStatTimes: on v2 /proc/stat shows the container's CPU time (cpu.stat
// user_usec + system_usec, in USER_HZ ticks), not the host's. The reader's
// own time is what the fresh cgroup has used, so the aggregate user+system
// can be at most cpu.stat's usage (read after the reader ended) plus one
// tick of rounding per CPU.
func (g *guest) checkStatTimes(name, mnt, ct string, out readOut) {
	file := mnt + "/proc/stat"
	text, err := out.get("cat:" + file)
	if err != nil {
		g.failErr(name+"/stat/cpu", file, err, "")
		return
	}
	cs, err := cgRead(ct, "cpu.stat")
	if err != nil {
		g.failErr(name+"/stat/cpu", cgPath(ct)+"/cpu.stat", err, "")
		return
	}
	st := flatKeyed(cs)
	var agg []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "cpu ") {
			agg = strings.Fields(line)
			break
		}
	}
	if len(agg) < 5 {
		g.result(failf(name+"/stat/cpu", file, "cpu", "no aggregate cpu line", text))
		return
	}
	user, _ := strconv.ParseUint(agg[1], 10, 64)
	nice, _ := strconv.ParseUint(agg[2], 10, 64)
	system, _ := strconv.ParseUint(agg[3], 10, 64)
	e, _ := expectCPUs(ct, false)
	usageTicks := (st["user_usec"] + st["system_usec"]) / 10000
	limit := usageTicks + uint64(len(e.host))
	got := user + nice + system
	hostStat, _ := os.ReadFile("/proc/stat")
	hostAgg, _, _ := strings.Cut(string(hostStat), "\n")
	g.expectThat(got <= limit, name+"/stat/cpu", file, "cpu user+nice+system (ticks)", fmt.Sprint(got),
		fmt.Sprintf("<= %d (cgroup usage %d ticks + %d)", limit, usageTicks, len(e.host)),
		fmt.Sprintf("reader %s; %s/cpu.stat: user_usec=%d system_usec=%d; host: %s",
			out.Cgroup, ct, st["user_usec"], st["system_usec"], hostAgg))
}

// pressureBefore reads ct's *.pressure files, to bracket what a reader sees.
func pressureSnapshot(ct string) map[string]map[string]psi {
	out := map[string]map[string]psi{}
	for _, res := range []string{"cpu", "io", "memory"} {
		if s, err := cgRead(ct, res+".pressure"); err == nil {
			if p, err := parsePressure(s); err == nil {
				out[res] = p
			}
		}
	}
	return out
}

// checkPressure: proc/pressure/<res> is ct's <res>.pressure. PSI totals
// only grow, so the "some" total the reader saw must lie between ct's file
// read before the reader started and after it ended (the host's total is
// far larger), and the file has the same lines (some, full) as ct's.
func (g *guest) checkPressure(name, mnt, ct string, out readOut, before, after map[string]map[string]psi) {
	for _, res := range []string{"cpu", "io", "memory"} {
		file := mnt + "/proc/pressure/" + res
		cfile := cgPath(ct) + "/" + res + ".pressure"
		text, err := out.get("cat:" + file)
		if err != nil {
			g.failErr(name+"/pressure/"+res, file, err, "")
			continue
		}
		p, err := parsePressure(text)
		if err != nil {
			g.failErr(name+"/pressure/"+res, file, err, text)
			continue
		}
		b, a := before[res], after[res]
		if b == nil || a == nil {
			g.failErr(name+"/pressure/"+res, cfile, fmt.Errorf("cannot read or parse the cgroup's file"), "")
			continue
		}
		var kinds, wantKinds []string
		for _, k := range []string{"some", "full"} {
			if _, ok := p[k]; ok {
				kinds = append(kinds, k)
			}
			if _, ok := a[k]; ok {
				wantKinds = append(wantKinds, k)
			}
		}
		hostText, _ := os.ReadFile("/proc/pressure/" + res)
		detail := fmt.Sprintf("reader %s; %s before: some total=%d, after: some total=%d; host /proc/pressure/%s: %s",
			out.Cgroup, cfile, b["some"].total, a["some"].total, res, strings.TrimSpace(string(hostText)))
		g.expect(name+"/pressure/"+res+"/lines", file, "line kinds", strings.Join(kinds, " "), strings.Join(wantKinds, " "), detail)
		got := p["some"].total
		g.expectThat(got >= b["some"].total && got <= a["some"].total, name+"/pressure/"+res+"/some-total", file,
			"some total", fmt.Sprint(got), fmt.Sprintf("between %d and %d (%s)", b["some"].total, a["some"].total, cfile), detail)
	}
}

// checkUptime: uptime is the age of the container's init (at most
// maxAge seconds, the time the init has existed), idle at most age times
// the visible CPUs.
func (g *guest) checkUptime(name, mnt, ct string, out readOut, maxAge float64) {
	file := mnt + "/proc/uptime"
	text, err := out.get("cat:" + file)
	if err != nil {
		g.failErr(name+"/uptime", file, err, "")
		return
	}
	var up, idle float64
	if _, err := fmt.Sscanf(text, "%f %f", &up, &idle); err != nil {
		g.failErr(name+"/uptime", file, fmt.Errorf("parse %q: %w", text, err), "")
		return
	}
	e, _ := expectCPUs(ct, false)
	g.expectThat(up >= 0 && up <= maxAge+0.01, name+"/uptime/age", file, "uptime", fmt.Sprintf("%.2f", up),
		fmt.Sprintf("between 0 and %.2f (the init's age)", maxAge), "reader "+out.Cgroup+"; "+strings.TrimSpace(text))
	maxIdle := up*float64(len(e.host)) + 0.01
	g.expectThat(idle >= 0 && idle <= maxIdle, name+"/uptime/idle", file, "idle", fmt.Sprintf("%.2f", idle),
		fmt.Sprintf("between 0 and %.2f (age x %d visible CPUs)", maxIdle, len(e.host)), "reader "+out.Cgroup)
}

// checkDiskstats: the device line of a cgroup that did I/O shows its
// io.stat numbers; a cgroup that did none lists the device with zeros.
func (g *guest) checkDiskstats(name, mnt, ct string, out readOut, dev string) {
	file := mnt + "/proc/diskstats"
	text, err := out.get("cat:" + file)
	if err != nil {
		g.failErr(name, file, err, "")
		return
	}
	stat, err := cgRead(ct, "io.stat")
	if err != nil {
		g.failErr(name, cgPath(ct)+"/io.stat", err, "")
		return
	}
	maj, min, _ := strings.Cut(dev, ":")
	var line []string
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == maj && f[1] == min {
			line = f
		}
	}
	hostText, _ := os.ReadFile("/proc/diskstats")
	var hostLine []string
	for _, l := range strings.Split(string(hostText), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == maj && f[1] == min {
			hostLine = f
		}
	}
	io := ioStat(stat, dev)
	detail := fmt.Sprintf("reader %s; %s/io.stat:\n%s\nhost: %s\ncontainer file:\n%s",
		out.Cgroup, ct, stat, strings.Join(hostLine, " "), text)
	if io == nil {
		// No I/O: the device is listed with zeros, so tools keep it.
		zeros := len(line) > 3
		for i := 3; i < len(line); i++ {
			zeros = zeros && line[i] == "0"
		}
		g.expect(name+"/zeros", file, dev+" line all zeros", fmt.Sprint(zeros), "true", detail)
		return
	}
	if !g.expect(name+"/present", file, dev+" line", fmt.Sprint(line != nil), "true", detail) {
		return
	}
	g.expect(name+"/fields", file, "number of fields", fmt.Sprint(len(line)), fmt.Sprint(len(hostLine)), detail)
	field := func(i int) string { // 1-based after major, minor, name
		if 2+i < len(line) {
			return line[2+i]
		}
		return "<missing>"
	}
	for _, c := range []struct {
		idx   int
		label string
		want  uint64
	}{
		{1, "reads completed", io["rios"]},
		{3, "sectors read", io["rbytes"] / 512},
		{5, "writes completed", io["wios"]},
		{7, "sectors written", io["wbytes"] / 512},
	} {
		g.expect(name+"/"+strings.ReplaceAll(c.label, " ", "-"), file, fmt.Sprintf("%s field %d (%s)", line[2], c.idx, c.label),
			field(c.idx), fmt.Sprint(c.want), detail)
	}
}

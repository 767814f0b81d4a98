package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

const (
	mntDefault = "/mnt/lxcfs"
	mntCFS     = "/mnt/lxcfs-cfs"
)

// scenario is a named group of checks against the daemon(s).
type scenario struct {
	name string
	cfs  bool // needs the --enable-cfs daemon
	run  func(g *guest, name string)
}

// scenarios run in this order, all in one boot. Names are the second level
// of the host's subtests (TestV2VM/<name>/...), and what -run selects.
var scenarios = []scenario{
	{name: "limited", run: (*guest).limited},
	{name: "nolimit", run: (*guest).nolimit},
	{name: "abovehost", run: (*guest).abovehost},
	{name: "nested", run: (*guest).nested},
	{name: "pidns", run: (*guest).pidns},
	{name: "pressure", run: (*guest).pressure},
	{name: "diskstats", run: (*guest).diskstats},
	{name: "cgroupfs", run: (*guest).cgroupfs},
	{name: "cfs", cfs: true, run: (*guest).cfsScenario},
}

func (g *guest) runAll() {
	g.enter("boot")
	g.bootChecks()
	if err := mkcg(cgBase); err != nil {
		g.failErr("boot/test-cgroup", cgPath(cgBase), err, "")
		return
	}
	g.enter("zram")
	g.zramSwap()
	g.enter("nullblk")
	g.nullBlk()

	var sel []scenario
	needCFS := false
	for _, s := range scenarios {
		if g.selected(s.name) {
			sel = append(sel, s)
			needCFS = needCFS || s.cfs
		}
	}
	if len(sel) > 0 || g.selected("daemon") {
		g.withDaemons(sel, needCFS)
	}
	if g.selected("integration") {
		g.enter("integration")
		g.integration()
	}
}

func (g *guest) withDaemons(sel []scenario, needCFS bool) {
	if why := g.daemonMissing(); why != "" {
		g.skip("daemon", why)
		for _, s := range sel {
			g.skip(s.name, why)
		}
		return
	}
	g.enter("daemon")
	t0 := time.Now()
	d, err := g.startDaemon(mntDefault, "/run/lxcfs-go.pid")
	if err != nil {
		g.failErr("daemon/start", mntDefault, err, "")
		for _, s := range sel {
			g.skip(s.name, "daemon did not start: "+err.Error())
		}
		if d != nil {
			d.stop()
		}
		return
	}
	g.info("daemon/start-time", time.Since(t0).String())
	g.daemon = d
	g.daemonStartChecks("daemon/start", d)
	if needCFS {
		c, err := g.startDaemon(mntCFS, "/run/lxcfs-go-cfs.pid", "--enable-cfs", "--runtime-dir", "/run/lxcfs-go-cfs")
		if err != nil {
			g.failErr("cfs/start", mntCFS, err, "")
			if c != nil {
				c.stop()
			}
		} else {
			g.cfs = c
		}
	}
	for _, s := range sel {
		if s.cfs && g.cfs == nil {
			g.skip(s.name, "the --enable-cfs daemon did not start (see cfs/start)")
			continue
		}
		t := time.Now()
		g.enter(s.name)
		s.run(g, s.name)
		g.info(s.name+"/time", time.Since(t).String())
	}
	g.enter("daemon")
	if g.cfs != nil {
		g.daemonStopChecks("cfs/stop", g.cfs)
	}
	g.daemonStopChecks("daemon/stop", d)
}

// readAndCheck runs a reader born in cg and checks every file against ct.
func (g *guest) readAndCheck(name, mnt, cg, ct string, cfs bool) (readOut, bool) {
	out, err := readIn(cg, fullOps(mnt)...)
	if err != nil {
		g.failErr(name+"/reader", cgPath(cg), err, "")
		return out, false
	}
	g.checkMem(name, mnt, ct, out)
	g.checkCPU(name, mnt, ct, out, cfs)
	return out, true
}

// limited: one cgroup with memory, swap, CPU quota and cpuset limits; the
// reader is in the daemon's pid namespace, so its own cgroup counts.
func (g *guest) limited(name string) {
	cg := cgBase + "/limited"
	if err := mkcg(cg, "memory.max", "268435456", "memory.swap.max", "67108864",
		"cpu.max", "50000 100000", "cpuset.cpus", "1"); err != nil {
		g.failErr(name+"/setup", cgPath(cg), err, "")
		return
	}
	t0 := time.Now()
	out, ok := g.readAndCheck(name, mntDefault, cg, cg, false)
	if !ok {
		return
	}
	g.checkStatTimes(name, mntDefault, cg, out)
	// A caller in the daemon's pid namespace has the VM's PID 1 as init.
	g.checkUptime(name, mntDefault, cg, out, uptime()+time.Since(t0).Seconds())
}

// nolimit: a cgroup without limits sees the host's values.
func (g *guest) nolimit(name string) {
	cg := cgBase + "/nolimit"
	if err := mkcg(cg); err != nil {
		g.failErr(name+"/setup", cgPath(cg), err, "")
		return
	}
	g.readAndCheck(name, mntDefault, cg, cg, false)
}

// abovehost: a memory limit above the VM's RAM shows the host's MemTotal.
func (g *guest) abovehost(name string) {
	cg := cgBase + "/abovehost"
	if err := mkcg(cg, "memory.max", "68719476736"); err != nil {
		g.failErr(name+"/setup", cgPath(cg), err, "")
		return
	}
	out, err := readIn(cg, fullOps(mntDefault)...)
	if err != nil {
		g.failErr(name+"/reader", cgPath(cg), err, "")
		return
	}
	g.checkMem(name, mntDefault, cg, out)
}

// nested: limits are the minimum over the ancestors (memory, swap), and
// the CPU set is the effective one (a child's wider cpuset.cpus is cut by
// its parent's).
func (g *guest) nested(name string) {
	top := cgBase + "/nested"
	mid := top + "/mid"
	leaf := mid + "/leaf"
	for _, s := range []struct {
		cg string
		kv []string
	}{
		{top, []string{"memory.max", "268435456", "memory.swap.max", "33554432", "cpuset.cpus", "1"}},
		{mid, nil},
		{leaf, []string{"memory.max", "536870912", "memory.swap.max", "67108864", "cpuset.cpus", "0-1"}},
	} {
		if err := mkcg(s.cg, s.kv...); err != nil {
			g.failErr(name+"/setup", cgPath(s.cg), err, "")
			return
		}
	}
	// The oracle computes the same minimum; make sure the setup is what the
	// scenario means to test.
	if l, _, _ := minLimit(leaf, "memory.max"); l.value != 268435456 {
		g.result(failf(name+"/setup", cgPath(leaf), "memory.max", fmt.Sprintf("min over ancestors is %d", l.value), ""))
	}
	if eff, _ := cgRead(leaf, "cpuset.cpus.effective"); eff != "1" {
		g.result(failf(name+"/setup", cgPath(leaf), "cpuset.cpus.effective", "is "+eff+", want 1", ""))
	}
	g.readAndCheck(name, mntDefault, leaf, leaf, false)
}

// pidns: a container-like pid namespace whose init sits in ct/init.scope;
// the init and readers in sub-cgroups of ct (with their own, smaller
// limits, nested) all see ct's limits.
func (g *guest) pidns(name string) {
	ct := cgBase + "/ct"
	for _, s := range []struct {
		cg string
		kv []string
	}{
		{ct, []string{"memory.max", "201326592", "memory.swap.max", "16777216", "cpuset.cpus", "0"}},
		{ct + "/init.scope", nil},
		{ct + "/sidecar", []string{"memory.max", "134217728", "memory.swap.max", "0", "cpuset.cpus", "0-1"}},
		{ct + "/app", []string{"memory.max", "134217728"}},
		{ct + "/app/worker", []string{"memory.max", "67108864", "memory.swap.max", "0"}},
	} {
		if err := mkcg(s.cg, s.kv...); err != nil {
			g.failErr(name+"/setup", cgPath(s.cg), err, "")
			return
		}
	}
	ops := fullOps(mntDefault)
	subs := []string{"sidecar", "app/worker"}
	spec := ctSpec{Ops: ops}
	for _, sub := range subs {
		spec.Readers = append(spec.Readers, ctReader{Cgroup: ct + "/" + sub, Ops: ops})
	}
	before := pressureSnapshot(ct)
	out, age, err := runContainer(ct+"/init.scope", spec)
	if err != nil {
		g.failErr(name+"/container", cgPath(ct+"/init.scope"), err, "")
		return
	}
	after := pressureSnapshot(ct)
	g.checkMem(name+"/init", mntDefault, ct, out.Init)
	g.checkCPU(name+"/init", mntDefault, ct, out.Init, false)
	g.checkUptime(name+"/init", mntDefault, ct, out.Init, age.Seconds())
	for i, sub := range subs {
		if i >= len(out.Readers) {
			break
		}
		r := out.Readers[i]
		n := name + "/" + strings.ReplaceAll(sub, "/", "-")
		g.checkMem(n, mntDefault, ct, r)
		g.checkCPU(n, mntDefault, ct, r, false)
		g.checkUptime(n, mntDefault, ct, r, age.Seconds())
		g.checkPressure(n, mntDefault, ct, r, before, after)
	}
}

// pressure: proc/pressure/* are the reader's cgroup's files. The cgroup is
// fresh, so its totals are small and far from the host's.
func (g *guest) pressure(name string) {
	cg := cgBase + "/pressure"
	if err := mkcg(cg, "cpu.max", "50000 100000"); err != nil {
		g.failErr(name+"/setup", cgPath(cg), err, "")
		return
	}
	before := pressureSnapshot(cg)
	out, err := readIn(cg, fullOps(mntDefault)...)
	if err != nil {
		g.failErr(name+"/reader", cgPath(cg), err, "")
		return
	}
	after := pressureSnapshot(cg)
	g.checkPressure(name, mntDefault, cg, out, before, after)
}

// diskstats: io-a did known I/O on nullb0 (setup), io-b did none.
func (g *guest) diskstats(name string) {
	if g.nullDev == "" {
		g.skip(name, "no null_blk device (see nullblk)")
		return
	}
	for _, cg := range []string{cgIOA, cgIOB} {
		out, err := readIn(cg, "cat:"+mntDefault+"/proc/diskstats")
		if err != nil {
			g.failErr(name+"/"+strings.TrimPrefix(cg, cgBase+"/")+"/reader", cgPath(cg), err, "")
			continue
		}
		g.checkDiskstats(name+"/"+strings.TrimPrefix(cg, cgBase+"/"), mntDefault, cg, out, g.nullDev)
	}
}

// cgroupfs: the cgroup/unified view from inside a container shows the path
// down to the container (ancestors list only the next step) and the
// container's real files.
func (g *guest) cgroupfs(name string) {
	root := mntDefault + "/cgroup"
	if _, err := os.Stat(root); err != nil {
		g.skip(name, "the daemon serves no cgroup/ tree yet: "+err.Error())
		return
	}
	ct := cgBase + "/cgfs"
	for _, s := range []string{ct, ct + "/init.scope", ct + "/app", cgBase + "/cgfs-sibling"} {
		if err := mkcg(s); err != nil {
			g.failErr(name+"/setup", cgPath(s), err, "")
			return
		}
	}
	if err := writeFile(cgPath(ct)+"/memory.max", "201326592"); err != nil {
		g.failErr(name+"/setup", cgPath(ct), err, "")
		return
	}
	u := root + "/unified"
	ops := []string{"ls:" + root, "ls:" + u, "ls:" + u + "/" + cgBase, "ls:" + u + "/" + ct, "cat:" + u + "/" + ct + "/memory.max"}
	out, _, err := runContainer(ct+"/init.scope", ctSpec{Readers: []ctReader{{Cgroup: ct + "/app", Ops: ops}}})
	if err != nil || len(out.Readers) != 1 {
		g.failErr(name+"/container", cgPath(ct), fmt.Errorf("%v", err), "")
		return
	}
	r := out.Readers[0]
	dirs := func(op string) string {
		names, err := r.list(op)
		if err != nil {
			return "error: " + err.Error()
		}
		var d []string
		for _, n := range names {
			if strings.HasSuffix(n, "/") {
				d = append(d, n)
			}
		}
		return strings.Join(d, " ")
	}
	top, _ := r.list("ls:" + root)
	g.expectThat(contains(top, "unified/"), name+"/unified", root, "entries", strings.Join(top, " "), "contains unified/", "")
	g.expect(name+"/root-lists-next-step", u, "directories", dirs("ls:"+u), cgBase+"/", "reader "+r.Cgroup)
	g.expect(name+"/ancestor-lists-next-step", u+"/"+cgBase, "directories", dirs("ls:"+u+"/"+cgBase), "cgfs/",
		"siblings such as cgfs-sibling, limited, nested must be invisible; reader "+r.Cgroup)
	names, err := r.list("ls:" + u + "/" + ct)
	if err != nil {
		g.failErr(name+"/container-dir", u+"/"+ct, err, "")
	} else {
		for _, want := range []string{"app/", "init.scope/", "memory.max", "cgroup.procs"} {
			g.expectThat(contains(names, want), name+"/container-dir/"+strings.TrimSuffix(want, "/"), u+"/"+ct, "entries",
				strings.Join(names, " "), "contains "+want, "")
		}
	}
	if text, err := r.get("cat:" + u + "/" + ct + "/memory.max"); err != nil {
		g.failErr(name+"/memory.max", u+"/"+ct+"/memory.max", err, "")
	} else {
		g.expect(name+"/memory.max", u+"/"+ct+"/memory.max", "", strings.TrimSpace(text), "201326592", "the real file's content")
	}
}

// cfsScenario: with --enable-cfs the CPU count follows the minimum quota
// over the ancestors (ceil), CPUs renumbered from 0.
func (g *guest) cfsScenario(name string) {
	for _, c := range []struct {
		sub string
		kv  [][]string // per level: parent, then leaf
	}{
		{"half", [][]string{{"cpu.max", "50000 100000"}, {"cpu.max", "200000 100000", "cpuset.cpus", "0-1"}}},
		{"one-and-half", [][]string{{"cpu.max", "150000 100000"}, {"cpuset.cpus", "0-1"}}},
		{"none", [][]string{nil, nil}},
	} {
		parent := cgBase + "/cfs-" + c.sub
		leaf := parent + "/leaf"
		if err := mkcg(parent, c.kv[0]...); err != nil {
			g.failErr(name+"/"+c.sub+"/setup", cgPath(parent), err, "")
			continue
		}
		if err := mkcg(leaf, c.kv[1]...); err != nil {
			g.failErr(name+"/"+c.sub+"/setup", cgPath(leaf), err, "")
			continue
		}
		out, err := readIn(leaf, fullOps(mntCFS)...)
		if err != nil {
			g.failErr(name+"/"+c.sub+"/reader", cgPath(leaf), err, "")
			continue
		}
		g.checkCPU(name+"/"+c.sub, mntCFS, leaf, out, true)
	}
}

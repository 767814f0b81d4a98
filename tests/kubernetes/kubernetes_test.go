package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/internal/ociimage"
	"github.com/lxcfs-go/lxcfs-go/webhook"
)

const (
	// The namespace of deploy/kubernetes; the chart goes into helmNS.
	manifestNS  = "lxcfs-go"
	daemonSet   = "lxcfs-go"
	keeperSet   = "lxcfs-go-keeper"
	readerImage = "lxcfs-go-e2e/reader:1"
	pauseImage  = "lxcfs-go-e2e/pause:1" // cluster.sh's sandbox_image
	// 192Mi, what the reader pod's limit must read as.
	wantMemTotal = "196608"
	// How long each operation's window goes on after the operation is
	// done: reads that would fail late (a mount that ends when an old pod
	// is finally cleaned up) fall in it.
	settle = 3 * time.Second
)

// cluster is the running cluster's variables (cluster.sh env) and its
// tools.
type cluster struct {
	t      *testing.T
	dir    string // tests/kubernetes
	env    map[string]string
	ns     string // the daemon's namespace: manifestNS, then helmNS
	timing []timing
}

type timing struct {
	what string
	d    time.Duration
}

func (c *cluster) time(what string, start time.Time) {
	c.timing = append(c.timing, timing{what, time.Since(start)})
}

// run runs a command with a bound on its time and returns its stdout;
// a failure ends the test with stderr.
func (c *cluster) run(timeout time.Duration, name string, args ...string) string {
	c.t.Helper()
	out, err := c.try(timeout, name, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func (c *cluster) try(timeout time.Duration, name string, args ...string) (string, error) {
	return c.tryIn(timeout, nil, name, args...)
}

func (c *cluster) tryIn(timeout time.Duration, stdin []byte, name string, args ...string) (string, error) {
	return c.tryEnv(timeout, stdin, nil, name, args...)
}

// tryEnv runs a command with c.env and extra in its environment.
func (c *cluster) tryEnv(timeout time.Duration, stdin []byte, extra []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = os.Environ()
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, extra...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no end within %v", timeout)
		}
		return stdout.String(), fmt.Errorf("%w\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	return c.run(2*time.Minute, c.env["K8S_BINDIR"]+"/kubectl", args...)
}

func (c *cluster) tryKubectl(args ...string) (string, error) {
	return c.try(time.Minute, c.env["K8S_BINDIR"]+"/kubectl", args...)
}

func (c *cluster) apply(yaml string) {
	c.t.Helper()
	if out, err := c.tryIn(time.Minute, []byte(yaml), c.env["K8S_BINDIR"]+"/kubectl", "apply", "-f", "-"); err != nil {
		c.t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

func (c *cluster) ctr(args ...string) string {
	c.t.Helper()
	return c.run(2*time.Minute, "ctr", append([]string{"-a", c.env["SOCK"], "-n", "k8s.io"}, args...)...)
}

// hostPaths rewrites what a manifest (or the chart's rendering) says of the
// host for this cluster: see rewriteHost.
func (c *cluster) hostPaths(manifest string) string {
	return rewriteHost(manifest, c.env["SHARED"], c.env["API_URL"])
}

// selfManagedArg is the webhook's --self-managed argument, which
// rewriteHost follows with --kube-api.
var selfManagedArg = regexp.MustCompile(`(?m)^(\s*)- --self-managed$`)

// rewriteHost rewrites a manifest's host-specific settings for the
// cluster of cluster.sh, and nothing else:
//   - hostPath paths live under its shared directory: Bidirectional and
//     HostToContainer volumes need a shared mount, and / is private here
//     (the mountPaths inside the pods stay), and so does the webhook's
//     --lxcfs-dir, the hostPath of the volumes it adds;
//   - the webhook reaches the API server at apiURL (--kube-api): pods cannot
//     reach the kubernetes Service without kube-proxy.
func rewriteHost(manifest, shared, apiURL string) string {
	r := strings.NewReplacer(
		// The daemon's volume is /var/lib, the pods' /var/lib/lxcfs/...
		"path: /var/lib", "path: "+shared+"/var-lib",
		"path: /run/lxcfs-go", "path: "+shared+"/run-lxcfs-go",
		"path: /sys/fs/cgroup", "path: "+shared+"/sys-fs-cgroup",
		"--lxcfs-dir=/var/lib/", "--lxcfs-dir="+shared+"/var-lib/",
	)
	m := r.Replace(manifest)
	if apiURL != "" {
		m = selfManagedArg.ReplaceAllString(m, "${1}- --self-managed\n${1}- --kube-api="+apiURL)
	}
	return m
}

// until polls cond every 200 ms for at most d.
func (c *cluster) until(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			c.diagnose()
			c.t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// diagnose logs what helps when something did not happen: the pods, the
// events, the daemon's and keeper's logs.
func (c *cluster) diagnose() {
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"-n", c.ns, "logs", "--tail=40", "--prefix", "--all-containers", "-l", "app.kubernetes.io/name=" + daemonSet},
		{"-n", c.ns, "logs", "--tail=40", "--prefix", "-l", "app.kubernetes.io/name=" + keeperSet},
		{"-n", c.ns, "logs", "--tail=20", "--prefix", "-l", "app.kubernetes.io/name=lxcfs-go-webhook"},
	} {
		out, err := c.tryKubectl(args...)
		c.t.Logf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func jsonpath(c *cluster, args ...string) string {
	c.t.Helper()
	out, err := c.tryKubectl(args...)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// daemonPod is the name of the daemon's pod that is Ready and not being
// deleted, or "".
func (c *cluster) daemonPod() string {
	out := jsonpath(c, "-n", c.ns, "get", "pods", "-l", "app.kubernetes.io/name="+daemonSet, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == "True" {
			return f[0]
		}
	}
	return ""
}

// podsOf counts the pods of a DaemonSet, deleted ones included.
func (c *cluster) podsOf(set string) int {
	return len(strings.Fields(jsonpath(c, "-n", c.ns, "get", "pods", "-l", "app.kubernetes.io/name="+set, "-o", "jsonpath={.items[*].metadata.name}")))
}

// waitDaemonReplaced waits until the only daemon pod is Ready and is not
// old (another pod name), or, with old "", just until one is.
func (c *cluster) waitDaemonReplaced(old string) string {
	c.t.Helper()
	var pod string
	c.until(3*time.Minute, "a new daemon pod Ready", func() bool {
		pod = c.daemonPod()
		return pod != "" && pod != old && c.podsOf(daemonSet) == 1
	})
	return pod
}

// reads are the reader's log lines.
type read struct {
	at   time.Time
	ok   bool
	mem  string // MemTotal, when ok
	text string
}

// reads reads the log of the reader pod (in namespace default, or
// "namespace/name").
func (c *cluster) reads(pod string) []read {
	c.t.Helper()
	namespace, name, ok := strings.Cut(pod, "/")
	if !ok {
		namespace, name = "default", pod
	}
	out := c.kubectl("-n", namespace, "logs", name)
	var rs []read
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		ms, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		r := read{at: time.UnixMilli(ms), ok: f[1] == "ok", text: sc.Text()}
		if r.ok && len(f) > 2 {
			r.mem = f[2]
		}
		rs = append(rs, r)
	}
	return rs
}

// result is one row of the table.
type result struct {
	op        string
	took      time.Duration
	reads     int
	failures  int
	maxGap    time.Duration
	badMem    int
	firstFail string
	restarts  string
}

// window counts the reads from start to end: failures, reads with another
// MemTotal, and the longest time between two successful reads (the last one
// before start counts, so that a read that hangs across the whole window
// shows).
func window(rs []read, start, end time.Time) result {
	var r result
	var last time.Time
	for _, x := range rs {
		if x.at.Before(start) {
			if x.ok {
				last = x.at
			}
			continue
		}
		if x.at.After(end) {
			break
		}
		r.reads++
		if !x.ok {
			r.failures++
			if r.firstFail == "" {
				r.firstFail = x.text
			}
			continue
		}
		if x.mem != wantMemTotal {
			r.badMem++
		}
		if !last.IsZero() && x.at.Sub(last) > r.maxGap {
			r.maxGap = x.at.Sub(last)
		}
		last = x.at
	}
	if !last.IsZero() && end.Sub(last) > r.maxGap {
		r.maxGap = end.Sub(last)
	}
	return r
}

// buildImages writes the pause and reader images (static Go programs, and
// Debian's static busybox for sh and nproc) as tars in dir.
func buildImages(t *testing.T, dir string) []string {
	t.Helper()
	var tars []string
	build := func(pkg string) []byte {
		out := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./"+pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("%v (Debian's busybox-static)", err)
	}
	for _, img := range []ociimage.Image{{
		Tags:       []string{pauseImage},
		Entrypoint: []string{"/pause"},
		Files:      []ociimage.File{{Path: "/pause", Mode: 0o755, Data: build("pause")}},
	}, {
		Tags:       []string{readerImage},
		Entrypoint: []string{"/reader"},
		Env:        []string{"PATH=/bin"},
		Files: []ociimage.File{
			{Path: "/reader", Mode: 0o755, Data: build("reader")},
			{Path: "/bin/busybox", Mode: 0o755, Data: busybox},
		},
		Dirs: []ociimage.Dir{{Path: "/proc", Mode: 0o555}, {Path: "/sys", Mode: 0o555}, {Path: "/dev", Mode: 0o755}, {Path: "/tmp", Mode: 0o1777}},
	}} {
		img.Created, img.OS, img.Arch = time.Unix(0, 0), "linux", runtime.GOARCH
		name := strings.NewReplacer("/", "-", ":", "-").Replace(img.Tags[0]) + ".tar"
		var b bytes.Buffer
		if err := ociimage.Write(&b, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		tars = append(tars, p)
	}
	return tars
}

// readerPod binds the daemon's proc/meminfo over the pod's /proc/meminfo,
// as example-pod.yaml does, and reads it every 20 ms: injectedReaderPod with
// the volume the webhook would add.
func readerPod(name, meminfo string) string {
	return injectedReaderPod(name, "default") + `      volumeMounts:
        - name: lxcfs-go-proc-meminfo
          mountPath: /proc/meminfo
          readOnly: true
  volumes:
    - name: lxcfs-go-proc-meminfo
      hostPath:
        path: ` + meminfo + `
`
}

// cpuPod has limits.cpu: 1 and the daemon's CPU views, and prints what a
// program sizing its threads sees.
func cpuPod(name, lxcfs string) string {
	mounts, volumes := "", ""
	for _, f := range []string{"proc/cpuinfo", "proc/stat", "proc/meminfo", "sys/devices/system/cpu"} {
		v := "lxcfs-go-" + strings.NewReplacer("/", "-").Replace(f)
		mounts += "        - {name: " + v + ", mountPath: /" + f + ", readOnly: true}\n"
		volumes += "    - {name: " + v + ", hostPath: {path: " + lxcfs + "/" + f + "}}\n"
	}
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: default
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: nproc
      image: ` + readerImage + `
      imagePullPolicy: Never
      command:
        - /bin/busybox
        - sh
        - -c
        - |
          echo "nproc $(busybox nproc)"
          echo "nproc--all $(busybox nproc --all)"
          echo "online $(busybox cat /sys/devices/system/cpu/online)"
          echo "cpuinfo $(busybox grep -c ^processor /proc/cpuinfo)"
          echo "stat $(busybox grep -c '^cpu[0-9]' /proc/stat)"
          echo "memtotal $(busybox awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
      resources:
        limits:
          cpu: "1"
          memory: 192Mi
      volumeMounts:
` + mounts + `  volumes:
` + volumes
}

// TestKubernetes is `make e2e-kubernetes`.
func TestKubernetes(t *testing.T) {
	if os.Getenv("LXCFS_GO_E2E_KUBERNETES") != "1" {
		t.Skip("a real Kubernetes cluster: run `make e2e-kubernetes` (LXCFS_GO_E2E_KUBERNETES=1)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(here, "../..")
	image := os.Getenv("LXCFS_GO_IMAGE")
	if image == "" {
		image = filepath.Join(repo, "bin/lxcfs-go-image.tar")
	}
	if _, err := os.Stat(image); err != nil {
		t.Fatalf("%v: run `make image` first", err)
	}
	c := &cluster{t: t, dir: here, ns: manifestNS}
	total := time.Now()

	// Kubernetes from the module proxy, once per version and machine.
	start := time.Now()
	if out, err := c.try(30*time.Minute, filepath.Join(here, "build-k8s.sh")); err != nil {
		t.Fatalf("build-k8s.sh: %v", err)
	} else {
		t.Logf("%s", strings.TrimSpace(out))
	}
	c.time("build Kubernetes (build-k8s.sh)", start)

	env := c.run(time.Minute, filepath.Join(here, "cluster.sh"), "env")
	c.env = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			c.env[k] = v
		}
	}

	start = time.Now()
	keep := os.Getenv("LXCFS_GO_E2E_KEEP") == "1"
	t.Cleanup(func() {
		if keep {
			t.Logf("LXCFS_GO_E2E_KEEP=1: the cluster stays up; tear it down with %s down", filepath.Join(here, "cluster.sh"))
			return
		}
		if t.Failed() {
			c.diagnose()
		}
		start := time.Now()
		if out, err := c.try(3*time.Minute, filepath.Join(here, "cluster.sh"), "down"); err != nil {
			t.Errorf("cluster.sh down: %v\n%s", err, out)
		}
		fmt.Printf("tear-down: %.1fs\n", time.Since(start).Seconds())
	})
	if _, err := c.try(5*time.Minute, filepath.Join(here, "cluster.sh"), "up"); err != nil {
		t.Fatalf("cluster.sh up: %v", err)
	}
	c.time("cluster up to node Ready (cluster.sh up)", start)

	start = time.Now()
	imgDir := filepath.Join(c.env["STATE"], "images")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tar := range append(buildImages(t, imgDir), image) {
		c.ctr("images", "import", tar)
	}
	// The "new version" of the rolling update: the same image, another tag.
	c.ctr("images", "tag", "--force", ociimage.FullName("lxcfs-go:latest"), ociimage.FullName("lxcfs-go:e2e2"))
	c.time("images built and imported", start)

	// The project's manifests, host paths aside.
	start = time.Now()
	ds, err := os.ReadFile(filepath.Join(repo, "deploy/kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.apply(c.hostPaths(string(ds)))
	webhookReady := c.applyWebhook(repo)
	// OnDelete: no rollout status for the keeper.
	c.until(2*time.Minute, "the keeper Ready", func() bool {
		return jsonpath(c, "-n", c.ns, "get", "daemonset", keeperSet, "-o", "jsonpath={.status.numberReady}") == "1"
	})
	c.kubectl("-n", c.ns, "rollout", "status", "daemonset/"+daemonSet, "--timeout=120s")
	first := c.waitDaemonReplaced("")
	c.time("daemonset.yaml and webhook.yaml applied, keeper and daemon Ready", start)
	// Both DaemonSets start at once: a daemon that finds no keeper yet
	// exits, and the kubelet starts it again.
	if n := jsonpath(c, "-n", c.ns, "get", "pod", first, "-o", "jsonpath={.status.containerStatuses[0].restartCount}"); n != "0" {
		t.Logf("the first daemon pod restarted %s time(s) before it was Ready (started before the keeper answered?)", n)
	}

	lxcfs := c.env["SHARED"] + "/var-lib/lxcfs"
	var results []result

	// The reader, and the operations under it.
	c.apply(readerPod("reader", lxcfs+"/proc/meminfo"))
	c.until(2*time.Minute, "the reader's first read", func() bool {
		out, err := c.tryKubectl("logs", "reader")
		return err == nil && strings.Contains(out, " ok ")
	})
	time.Sleep(time.Second)

	// reader is the pod the operations are counted in: "reader" in
	// default, then the chart's reader.
	reader := "reader"
	restartsOf := func(pod string) string {
		namespace, name, ok := strings.Cut(pod, "/")
		if !ok {
			namespace, name = "default", pod
		}
		return jsonpath(c, "-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
	}
	op := func(name string, do func()) {
		t.Helper()
		start := time.Now()
		do()
		took := time.Since(start)
		time.Sleep(settle)
		r := window(c.reads(reader), start, time.Now())
		r.op, r.took, r.restarts = name, took, restartsOf(reader)
		results = append(results, r)
		t.Logf("%s: %d reads, %d failures, max gap %v, reader restarts %s", name, r.reads, r.failures, r.maxGap, r.restarts)
	}

	op("steady (no operation)", func() { time.Sleep(2 * time.Second) })
	op("kubectl rollout restart", func() {
		old := c.daemonPod()
		c.kubectl("-n", c.ns, "rollout", "restart", "daemonset/"+daemonSet)
		c.kubectl("-n", c.ns, "rollout", "status", "daemonset/"+daemonSet, "--timeout=180s")
		c.waitDaemonReplaced(old)
	})
	op("rolling update to lxcfs-go:e2e2", func() {
		old := c.daemonPod()
		c.kubectl("-n", c.ns, "set", "image", "daemonset/"+daemonSet, "lxcfs-go=lxcfs-go:e2e2")
		c.kubectl("-n", c.ns, "rollout", "status", "daemonset/"+daemonSet, "--timeout=180s")
		c.waitDaemonReplaced(old)
	})
	op("kubectl delete pod (daemon)", func() {
		old := c.daemonPod()
		c.kubectl("-n", c.ns, "delete", "pod", old, "--wait=true", "--timeout=120s")
		c.waitDaemonReplaced(old)
	})
	op("kill -9 of the daemon in its pod", func() {
		pod := c.daemonPod()
		before := jsonpath(c, "-n", c.ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
		id := jsonpath(c, "-n", c.ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].containerID}")
		id = strings.TrimPrefix(id, "containerd://")
		pid := 0
		for _, line := range strings.Split(c.ctr("tasks", "ls"), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == id {
				pid, _ = strconv.Atoi(f[1])
			}
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if pid <= 0 || !bytes.Contains(comm, []byte("lxcfs-go")) {
			t.Fatalf("the daemon's host pid: task %q pid %d cmdline %q", id, pid, comm)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.until(2*time.Minute, "the daemon's container restarted and Ready", func() bool {
			n := jsonpath(c, "-n", c.ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
			return n != before && n != "" && c.daemonPod() == pod
		})
	})
	op("kubelet restart", func() {
		c.run(3*time.Minute, filepath.Join(here, "cluster.sh"), "kubelet-restart")
		c.until(time.Minute, "the daemon Ready after the kubelet restart", func() bool { return c.daemonPod() != "" })
	})

	all := window(c.reads("reader"), time.Unix(0, 0), time.Now())
	allRestarts := restartsOf("reader")
	phase := jsonpath(c, "get", "pod", "reader", "-o", "jsonpath={.status.phase}")
	c.kubectl("delete", "pod", "reader", "--wait=true", "--timeout=60s")

	// One pod at a time (two cores): the CPU views of a limits.cpu: 1 pod.
	c.apply(cpuPod("cpu", lxcfs))
	c.until(2*time.Minute, "the cpu pod's end", func() bool {
		p := jsonpath(c, "get", "pod", "cpu", "-o", "jsonpath={.status.phase}")
		return p == "Succeeded" || p == "Failed"
	})
	cpuOut := c.kubectl("logs", "cpu")
	cpu := map[string]string{}
	for _, line := range strings.Split(cpuOut, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			cpu[k] = v
		}
	}
	c.kubectl("delete", "pod", "cpu", "--wait=true", "--timeout=60s")

	// The webhook, next to the manifests' daemon.
	var checks []check
	c.webhookChecks(webhookReady, &checks)

	// The chart, in a namespace of its own, once the manifests' objects
	// are gone.
	start = time.Now()
	c.removeManifests(repo)
	c.time("the manifests' objects removed", start)
	helm := os.Getenv("LXCFS_GO_HELM")
	if helm == "" {
		helm = filepath.Join(repo, "bin/helm-v4.3.2")
	}
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("%v: the chart needs make helm's helm (LXCFS_GO_HELM)", err)
	}
	c.writePostRenderer()
	chart := filepath.Join(repo, "deploy/helm/lxcfs-go")
	start = time.Now()
	if out, err := c.helm(helm, "install", helmRelease, chart, "-n", helmNS, "--create-namespace",
		"--post-renderer", postRenderPlugin); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	c.ns = helmNS
	c.until(2*time.Minute, "the chart's keeper Ready", func() bool {
		return jsonpath(c, "-n", c.ns, "get", "daemonset", keeperSet, "-o", "jsonpath={.status.numberReady}") == "1"
	})
	c.kubectl("-n", c.ns, "rollout", "status", "daemonset/"+daemonSet, "--timeout=120s")
	c.waitDaemonReplaced("")
	c.kubectl("-n", c.ns, "rollout", "status", "deployment/"+webhookDeploy, "--timeout=120s")
	c.check(&checks, "helm install: keeper, daemon, webhook Ready", true, "%.1fs after helm install (release %s, namespace %s)", time.Since(start).Seconds(), helmRelease, helmNS)
	entries, secret := c.caBundles(helmNS)
	c.check(&checks, "helm install: caBundle filled by the webhook", caBundleCurrent(entries, secret),
		"%d of 3 entries have the CA bundle of Secret %s", countEqual(entries, secret), caSecret)
	c.time("helm install to keeper, daemon and webhook Ready", start)

	// A reader with no volumes of its own in the opted-in namespace: the
	// chart's webhook gives it the files.
	c.apply(injectedReaderPod("reader", appsNS))
	annotation, binds := c.injection(appsNS, "reader")
	c.until(2*time.Minute, "the chart's reader's first read", func() bool {
		out, err := c.tryKubectl("-n", appsNS, "logs", "reader")
		return err == nil && strings.Contains(out, " ok ")
	})
	reader = appsNS + "/reader"
	helmReads := len(results)
	op("steady, chart installed (injected reader)", func() { time.Sleep(2 * time.Second) })
	c.check(&checks, "helm install: a pod reads its limit", annotation == "true" && binds == len(webhook.Files) && results[helmReads].badMem == 0 && results[helmReads].reads > 0,
		"injected=%q, %d files bound, %d reads, all MemTotal %s kB: %v", annotation, binds, results[helmReads].reads, wantMemTotal, results[helmReads].badMem == 0)
	op("helm upgrade --set image.tag=e2e2", func() {
		old := c.daemonPod()
		if out, err := c.helm(helm, "upgrade", helmRelease, chart, "-n", helmNS, "--reuse-values",
			"--set", "image.tag=e2e2", "--post-renderer", postRenderPlugin); err != nil {
			t.Fatalf("helm upgrade: %v\n%s", err, out)
		}
		c.kubectl("-n", c.ns, "rollout", "status", "daemonset/"+daemonSet, "--timeout=180s")
		c.waitDaemonReplaced(old)
		c.kubectl("-n", c.ns, "rollout", "status", "deployment/"+webhookDeploy, "--timeout=120s")
	})
	img := jsonpath(c, "-n", c.ns, "get", "pod", c.daemonPod(), "-o", "jsonpath={.spec.containers[0].image}")
	rev := jsonpath(c, "-n", c.ns, "get", "secrets", "-l", "owner=helm,name="+helmRelease+",status=deployed", "-o", "jsonpath={.items[*].metadata.labels.version}")
	c.check(&checks, "helm upgrade: daemon on the new image", img == "lxcfs-go:e2e2" && rev == "2", "daemon image %s, deployed revision %s", img, rev)
	entries, secret = c.caBundles(helmNS)
	c.check(&checks, "helm upgrade: caBundle kept", caBundleCurrent(entries, secret),
		"%d of 3 entries have the CA bundle of Secret %s", countEqual(entries, secret), caSecret)
	helmAll := window(c.reads(reader), time.Unix(0, 0), time.Now())
	helmRestarts := restartsOf(reader)
	c.kubectl("-n", appsNS, "delete", "pod", "reader", "--wait=true", "--timeout=60s")

	start = time.Now()
	if out, err := c.helm(helm, "uninstall", helmRelease, "-n", helmNS); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	c.until(2*time.Minute, "the chart's pods gone", func() bool {
		out, err := c.tryKubectl("-n", helmNS, "get", "pods", "-o", "name")
		return err == nil && strings.TrimSpace(out) == ""
	})
	var left, notChart []string
	for _, o := range c.helmObjects() {
		if o == "secret/"+caSecret {
			notChart = append(notChart, o) // the webhook's, not the chart's
		} else {
			left = append(left, o)
		}
	}
	releases, err := c.helm(helm, "list", "-n", helmNS, "-q")
	c.check(&checks, "helm uninstall: the chart's objects removed", len(left) == 0 && err == nil && strings.TrimSpace(releases) == "",
		"none left %v, no release %q (helm list: %v); left, made by the webhook: %v", left, strings.TrimSpace(releases), err, notChart)
	checks = append(checks, check{"after uninstall, the node's mount point", c.mountLeft(), true, true})
	c.time("helm uninstall to objects and pods gone", start)
	c.kubectl("delete", "namespace", helmNS, appsNS, "--wait=false")
	c.time("whole test", total)

	// The report.
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-42s %8s %7s %8s %9s %10s %8s\n", "operation", "took", "reads", "failures", "max gap", "MemTotal≠", "restarts")
	for _, r := range results {
		fmt.Fprintf(&b, "%-42s %7.1fs %7d %8d %8dms %10d %8s\n", r.op, r.took.Seconds(), r.reads, r.failures, r.maxGap.Milliseconds(), r.badMem, r.restarts)
	}
	fmt.Fprintf(&b, "%-42s %8s %7d %8d %8dms %10d %8s\n", "whole run of the reader", "", all.reads, all.failures, all.maxGap.Milliseconds(), all.badMem, allRestarts)
	fmt.Fprintf(&b, "%-42s %8s %7d %8d %8dms %10d %8s\n", "whole run of the chart's reader", "", helmAll.reads, helmAll.failures, helmAll.maxGap.Milliseconds(), helmAll.badMem, helmRestarts)
	fmt.Fprintf(&b, "\nlimits.cpu: 1 pod: nproc %s, nproc --all %s, cpu/online %s, cpuinfo processors %s, stat cpuN lines %s, MemTotal %s kB\n",
		cpu["nproc"], cpu["nproc--all"], cpu["online"], cpu["cpuinfo"], cpu["stat"], cpu["memtotal"])
	fmt.Fprintf(&b, "\n")
	for _, x := range checks {
		mark := "ok  "
		if x.info {
			mark = "info"
		} else if !x.ok {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%s %-46s %s\n", mark, x.what, x.result)
	}
	fmt.Fprintf(&b, "\n")
	for _, x := range c.timing {
		fmt.Fprintf(&b, "%-48s %6.1fs\n", x.what, x.d.Seconds())
	}
	fmt.Print(b.String())

	for _, r := range results {
		if r.failures > 0 {
			t.Errorf("%s: %d of %d reads failed; first: %s", r.op, r.failures, r.reads, r.firstFail)
		}
		if r.badMem > 0 {
			t.Errorf("%s: %d reads saw a MemTotal other than %s kB", r.op, r.badMem, wantMemTotal)
		}
		if r.restarts != "0" {
			t.Errorf("%s: the reader's restartCount is %q", r.op, r.restarts)
		}
		if r.reads == 0 {
			t.Errorf("%s: no reads at all", r.op)
		}
	}
	if phase != "Running" {
		t.Errorf("the reader pod is %q at the end", phase)
	}
	if all.failures > 0 {
		t.Errorf("%d reads failed over the reader's life", all.failures)
	}
	if helmAll.failures > 0 || helmAll.badMem > 0 || helmRestarts != "0" {
		t.Errorf("the chart's reader: %d failed reads, %d with another MemTotal, restartCount %q", helmAll.failures, helmAll.badMem, helmRestarts)
	}
	for k, want := range map[string]string{"nproc--all": "1", "online": "0", "cpuinfo": "1", "stat": "1", "memtotal": wantMemTotal} {
		if cpu[k] != want {
			t.Errorf("limits.cpu: 1 pod: %s is %q, want %q (output:\n%s)", k, cpu[k], want, cpuOut)
		}
	}
	// busybox's and coreutils' nproc count the affinity mask, which no
	// file changes: reported, not checked.
	if cpu["nproc"] != "1" {
		t.Logf("plain nproc (sched_getaffinity) says %s: CFS quotas do not change the affinity mask", cpu["nproc"])
	}
}

package kubernetes

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxcfs-go/lxcfs-go/webhook"
)

const (
	// The chart's release and namespace: a fresh one, after the manifests'
	// objects are removed (the chart makes the same cluster-wide objects and
	// uses the same host paths).
	helmRelease = "lxcfs-go"
	helmNS      = "lxcfs-go-helm"
	// A namespace that opts in (lxcfs-go.io/inject=true): its pods get the
	// files from the webhook, with no volumes of their own.
	appsNS        = "lxcfs-go-e2e-apps"
	webhookDeploy = "lxcfs-go-webhook"
	webhookConfig = "lxcfs-go"
	caSecret      = "lxcfs-go-webhook-ca"
	// The Helm post-renderer plugin (in a plugins directory of the state)
	// that rewrites the chart's host-specific settings as hostPaths does
	// for the manifests: it runs this test binary with postRenderEnv set.
	postRenderPlugin = "lxcfs-go-e2e-host"
	postRenderEnv    = "LXCFS_GO_E2E_POST_RENDER"
)

// TestMain is also the Helm post-renderer: with postRenderEnv=1 it copies
// stdin to stdout through rewriteHost ($SHARED and $API_URL come from
// cluster.sh env, through helm's environment).
func TestMain(m *testing.M) {
	if os.Getenv(postRenderEnv) == "1" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		shared, api := os.Getenv("SHARED"), os.Getenv("API_URL")
		if shared == "" || api == "" {
			fmt.Fprintln(os.Stderr, "post-renderer: SHARED and API_URL must be set")
			os.Exit(1)
		}
		os.Stdout.WriteString(rewriteHost(string(b), shared, api))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// check is one line of the webhook's and the chart's part of the report.
type check struct {
	what, result string
	ok           bool
	info         bool // reported, not checked
}

func (c *cluster) check(checks *[]check, what string, ok bool, format string, args ...any) {
	c.t.Helper()
	r := fmt.Sprintf(format, args...)
	*checks = append(*checks, check{what: what, result: r, ok: ok})
	if !ok {
		c.t.Errorf("%s: %s", what, r)
	} else {
		c.t.Logf("%s: %s", what, r)
	}
}

// probePod has a 192Mi limit and no volumes of its own, prints the MemTotal
// its /proc/meminfo says and exits.
func probePod(name, namespace, labels string) string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
  labels: {` + labels + `}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: probe
      image: ` + readerImage + `
      imagePullPolicy: Never
      command: ["/bin/busybox", "sh", "-c", "echo memtotal $(busybox awk '/^MemTotal:/ {print $2}' /proc/meminfo)"]
      resources:
        requests:
          cpu: 50m
          memory: 192Mi
        limits:
          memory: 192Mi
`
}

// injectedReaderPod is a pod that reads /proc/meminfo every 20 ms under a
// 192Mi limit, with no volumes: the webhook adds them (readerPod adds them
// itself).
func injectedReaderPod(name, namespace string) string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: reader
      image: ` + readerImage + `
      imagePullPolicy: Never
      command: ["/reader", "-file", "/proc/meminfo", "-interval", "20ms"]
      resources:
        requests:
          cpu: 50m
          memory: 192Mi
        limits:
          memory: 192Mi
`
}

// injection is what the webhook did to a pod: its lxcfs-go.io/injected
// annotation and the number of its hostPath volumes below the daemon's
// mount point.
func (c *cluster) injection(namespace, pod string) (annotation string, binds int) {
	c.t.Helper()
	lxcfs := c.env["SHARED"] + "/var-lib/lxcfs/"
	annotation = jsonpath(c, "-n", namespace, "get", "pod", pod, "-o",
		`jsonpath={.metadata.annotations.lxcfs-go\.io/injected}`)
	paths := jsonpath(c, "-n", namespace, "get", "pod", pod, "-o",
		`jsonpath={range .spec.volumes[*]}{.hostPath.path}{"\n"}{end}`)
	for _, p := range strings.Fields(paths) {
		if strings.HasPrefix(p, lxcfs) {
			binds++
		}
	}
	return annotation, binds
}

// podEnd waits for a pod that exits and returns its phase and log.
func (c *cluster) podEnd(namespace, pod string) (phase, log string) {
	c.t.Helper()
	c.until(2*time.Minute, pod+"'s end", func() bool {
		phase = jsonpath(c, "-n", namespace, "get", "pod", pod, "-o", "jsonpath={.status.phase}")
		return phase == "Succeeded" || phase == "Failed"
	})
	out, _ := c.tryKubectl("-n", namespace, "logs", pod)
	return phase, strings.TrimSpace(out)
}

// caBundles is the caBundle of each entry of the webhook configuration, and
// the CA Secret's bundle (both base64, as the API serves them).
func (c *cluster) caBundles(secretNS string) (entries []string, secret string) {
	entries = strings.Fields(jsonpath(c, "get", "mutatingwebhookconfiguration", webhookConfig, "-o",
		`jsonpath={range .webhooks[*]}{.clientConfig.caBundle}{" "}{end}`))
	secret = jsonpath(c, "-n", secretNS, "get", "secret", caSecret, "-o", `jsonpath={.data.ca-bundle}`)
	return entries, secret
}

// caBundleCurrent says whether every entry has the Secret's bundle.
func caBundleCurrent(entries []string, secret string) bool {
	if len(entries) != 3 || secret == "" {
		return false
	}
	for _, e := range entries {
		if e != secret {
			return false
		}
	}
	return true
}

// applyWebhook applies webhook.yaml next to the manifests' daemon, and
// makes the namespace that opts in. It does not wait: the webhook becomes
// Ready while the daemon is tested, and the channel gets how long that took
// (or -1: not within 3 minutes).
func (c *cluster) applyWebhook(repo string) <-chan time.Duration {
	c.t.Helper()
	wh, err := os.ReadFile(filepath.Join(repo, "deploy/kubernetes/webhook.yaml"))
	if err != nil {
		c.t.Fatal(err)
	}
	start := time.Now()
	c.apply(c.hostPaths(string(wh)))
	c.apply(`apiVersion: v1
kind: Namespace
metadata:
  name: ` + appsNS + `
  labels:
    lxcfs-go.io/inject: "true"
`)
	ready := make(chan time.Duration, 1)
	go func() {
		for time.Since(start) < 3*time.Minute {
			out, err := c.tryKubectl("-n", manifestNS, "get", "deployment", webhookDeploy, "-o", "jsonpath={.status.readyReplicas}")
			if err == nil && strings.TrimSpace(out) == "2" {
				ready <- time.Since(start)
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		ready <- -1
	}()
	return ready
}

// webhookChecks checks what webhook.yaml, applied by applyWebhook, does to
// pods on the real API server.
func (c *cluster) webhookChecks(ready <-chan time.Duration, checks *[]check) {
	t := c.t
	t.Helper()
	start := time.Now()
	var took time.Duration
	select {
	case took = <-ready:
	case <-time.After(3 * time.Minute):
		took = -1
	}
	if took < 0 {
		c.diagnoseWebhook(manifestNS)
		t.Fatalf("the webhook's Deployment: not 2 replicas Ready within 3 minutes")
	}
	c.check(checks, "webhook.yaml: Deployment Ready", true, "2 of 2 replicas Ready %.1fs after kubectl apply", took.Seconds())
	if out, err := c.tryKubectl("-n", manifestNS, "logs", "--prefix", "--tail=8", "-l", "app.kubernetes.io/name="+webhookDeploy); err == nil {
		t.Logf("the webhook's logs:\n%s", out)
	}

	// The manifest has no caBundle: the webhook publishes its CA's.
	var entries []string
	var secret string
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, secret = c.caBundles(manifestNS)
		if caBundleCurrent(entries, secret) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.check(checks, "caBundle filled by the webhook", caBundleCurrent(entries, secret),
		"%d of 3 entries have the CA bundle of Secret %s (%d base64 bytes)", countEqual(entries, secret), caSecret, len(secret))

	// A pod of the opted-in namespace, no volumes of its own.
	c.apply(probePod("injected", appsNS, ""))
	annotation, binds := c.injection(appsNS, "injected")
	phase, log := c.podEnd(appsNS, "injected")
	mem := strings.TrimPrefix(log, "memtotal ")
	c.check(checks, "pod in an opted-in namespace", annotation == "true" && binds == len(webhook.Files) && phase == "Succeeded" && mem == wantMemTotal,
		"injected=%q, %d of %d files bound, %s, MemTotal %s kB (192Mi limit)", annotation, binds, len(webhook.Files), phase, mem)

	// One of lxcfs-go's own, in the same namespace: sent to the webhook
	// (the namespace entry), which must leave it alone.
	c.apply(probePod("own", appsNS, "app.kubernetes.io/part-of: lxcfs-go"))
	annotation, binds = c.injection(appsNS, "own")
	c.check(checks, "pod of lxcfs-go's own (part-of label)", annotation == "" && binds == 0,
		"injected=%q, %d files bound", annotation, binds)
	c.kubectl("-n", appsNS, "delete", "pod", "injected", "own", "--wait=false")

	// The webhook down: failurePolicy Ignore.
	c.kubectl("-n", manifestNS, "scale", "deployment/"+webhookDeploy, "--replicas=0")
	c.until(time.Minute, "the webhook's pods gone", func() bool {
		return jsonpath(c, "-n", manifestNS, "get", "pods", "-l", "app.kubernetes.io/name="+webhookDeploy, "-o", "jsonpath={.items[*].metadata.name}") == ""
	})
	created := time.Now()
	_, err := c.tryIn(time.Minute, []byte(probePod("webhook-down", appsNS, "")), c.env["K8S_BINDIR"]+"/kubectl", "create", "-f", "-")
	took = time.Since(created)
	annotation, binds = c.injection(appsNS, "webhook-down")
	c.check(checks, "webhook scaled to 0: a new pod", err == nil && annotation == "" && binds == 0,
		"created in %.1fs (err %v), injected=%q, %d files bound", took.Seconds(), err, annotation, binds)
	c.kubectl("-n", appsNS, "delete", "pod", "webhook-down", "--wait=false")
	c.time("webhook checks", start)
}

func countEqual(entries []string, s string) int {
	n := 0
	for _, e := range entries {
		if e == s && s != "" {
			n++
		}
	}
	return n
}

func (c *cluster) diagnoseWebhook(namespace string) {
	for _, args := range [][]string{
		{"-n", namespace, "get", "pods", "-o", "wide"},
		{"-n", namespace, "logs", "--tail=40", "--prefix", "-l", "app.kubernetes.io/name=" + webhookDeploy},
	} {
		out, err := c.tryKubectl(args...)
		c.t.Logf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// helm runs make helm's helm with its directories and the post-renderer
// plugin under the cluster's state.
func (c *cluster) helm(bin string, args ...string) (string, error) {
	home := filepath.Join(c.env["STATE"], "helm")
	env := []string{
		"HELM_CONFIG_HOME=" + home + "/config",
		"HELM_CACHE_HOME=" + home + "/cache",
		"HELM_DATA_HOME=" + home + "/data",
		"HELM_PLUGINS=" + home + "/plugins",
		postRenderEnv + "=1",
	}
	return c.tryEnv(3*time.Minute, nil, env, bin, args...)
}

// writePostRenderer makes the post-renderer plugin: this test binary.
func (c *cluster) writePostRenderer() {
	self, err := os.Executable()
	if err != nil {
		c.t.Fatal(err)
	}
	dir := filepath.Join(c.env["STATE"], "helm/plugins", postRenderPlugin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	yaml := `apiVersion: v1
name: ` + postRenderPlugin + `
version: 0.1.0
type: postrenderer/v1
runtime: subprocess
runtimeConfig:
  platformCommand:
    - command: ` + self + `
`
	if err := os.WriteFile(filepath.Join(dir, "plugin.yaml"), []byte(yaml), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// removeManifests deletes what daemonset.yaml and webhook.yaml made and
// waits for their pods to be gone: the chart makes the same cluster-wide
// objects and runs on the same host paths.
func (c *cluster) removeManifests(repo string) {
	t := c.t
	t.Helper()
	var all []string
	for _, f := range []string{"webhook.yaml", "daemonset.yaml"} {
		b, err := os.ReadFile(filepath.Join(repo, "deploy/kubernetes", f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, c.hostPaths(string(b)))
	}
	if out, err := c.tryIn(time.Minute, []byte(strings.Join(all, "\n---\n")), c.env["K8S_BINDIR"]+"/kubectl",
		"delete", "--wait=false", "-f", "-"); err != nil {
		t.Fatalf("kubectl delete the manifests' objects: %v\n%s", err, out)
	}
	c.until(2*time.Minute, "the manifests' pods gone", func() bool {
		out, err := c.tryKubectl("-n", manifestNS, "get", "pods", "-o", "name")
		return err == nil && strings.TrimSpace(out) == ""
	})
}

// helmObjects lists what is left of the release: objects labelled
// app.kubernetes.io/part-of=lxcfs-go in its namespace and cluster-wide.
func (c *cluster) helmObjects() []string {
	var left []string
	for _, args := range [][]string{
		{"-n", helmNS, "get", "daemonsets,deployments,replicasets,pods,services,serviceaccounts,roles,rolebindings,secrets,configmaps", "-l", "app.kubernetes.io/part-of=lxcfs-go", "-o", "name"},
		{"get", "clusterroles,clusterrolebindings,mutatingwebhookconfigurations", "-l", "app.kubernetes.io/part-of=lxcfs-go", "-o", "name"},
	} {
		out, err := c.tryKubectl(args...)
		if err != nil {
			left = append(left, "(kubectl: "+err.Error()+")")
			continue
		}
		left = append(left, strings.Fields(out)...)
	}
	return left
}

// mountLeft describes what is mounted at the daemon's mount point on the
// host, and whether it answers (a stat bounded to 2 s).
func (c *cluster) mountLeft() string {
	mp := c.env["SHARED"] + "/var-lib/lxcfs"
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err.Error()
	}
	fstype := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[4] != mp {
			continue
		}
		for i, x := range f {
			if x == "-" && i+1 < len(f) {
				fstype = f[i+1]
			}
		}
	}
	if fstype == "" {
		return "nothing mounted"
	}
	done := make(chan error, 1)
	go func() { _, err := os.Stat(mp + "/proc/uptime"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			return fstype + ", answering"
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Sprintf("%s, %v", fstype, err)
	case <-time.After(2 * time.Second):
		return fstype + ", not answering within 2s"
	}
}

// TestRewriteHost checks, without a cluster, the rewrite the manifests and
// the chart get: every host path under the shared directory, and the
// webhook's --kube-api right after --self-managed.
func TestRewriteHost(t *testing.T) {
	const shared, api = "/state/shared", "https://10.217.0.1:16443"
	for _, f := range []string{"daemonset.yaml", "webhook.yaml", "example-pod.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../deploy/kubernetes", f))
		if err != nil {
			t.Fatal(err)
		}
		out := rewriteHost(string(b), shared, api)
		inHostPath := false
		for _, line := range strings.Split(out, "\n") {
			l := strings.TrimSpace(l(line))
			if l == "" {
				continue
			}
			if inHostPath && strings.HasPrefix(l, "path: ") && !strings.HasPrefix(l, "path: "+shared+"/") {
				t.Errorf("%s: a host path left: %q", f, l)
			}
			inHostPath = l == "hostPath:" || (inHostPath && !strings.HasPrefix(l, "path:"))
			if strings.HasPrefix(l, "- --lxcfs-dir=") && l != "- --lxcfs-dir="+shared+"/var-lib/lxcfs" {
				t.Errorf("%s: %q", f, l)
			}
		}
		want := 0
		if f == "webhook.yaml" {
			want = 1
			if !strings.Contains(out, "            - --self-managed\n            - --kube-api="+api+"\n") {
				t.Errorf("%s: no --kube-api after --self-managed:\n%s", f, out)
			}
		}
		if n := strings.Count(out, "--kube-api="); n != want {
			t.Errorf("%s: %d --kube-api, want %d", f, n, want)
		}
	}
}

// l drops a YAML line's comment.
func l(line string) string {
	if i := strings.Index(line, "#"); i >= 0 {
		return line[:i]
	}
	return line
}

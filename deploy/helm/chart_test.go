// Package helm_test checks the Helm chart in lxcfs-go/ with the helm
// binary `make test` builds (bin/helm-<version>, from the Go module proxy;
// LXCFS_GO_HELM names it): it lints, renders the objects of
// deploy/kubernetes with its defaults, and follows its values. The chart is
// rendered by helm itself rather than by linking Helm's engine into this
// module, which would pull Kubernetes' client libraries into go.mod.
package helm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/lxcfs-go/lxcfs-go/webhook"
)

func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("LXCFS_GO_HELM"); h != "" {
		if _, err := os.Stat(h); err == nil {
			return h
		}
	}
	if matches, _ := filepath.Glob("../../bin/helm-v*"); len(matches) > 0 {
		return matches[len(matches)-1]
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	t.Skip("no helm: `make test` builds bin/helm-<version> from the Go module proxy (make helm)")
	return ""
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	// No user configuration, cache or plugins: the chart alone.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), errors.New(strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// render is `helm template lxcfs-go ./lxcfs-go -n lxcfs-go` with sets,
// as objects by "Kind namespace/name".
func render(t *testing.T, sets ...string) map[string]map[string]any {
	t.Helper()
	args := []string{"template", "lxcfs-go", "./lxcfs-go", "--namespace", "lxcfs-go"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
	}
	return objects(t, out)
}

func objects(t *testing.T, text string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not YAML: %v\n%s", err, text)
		}
		if o == nil {
			continue
		}
		meta, _ := o["metadata"].(map[string]any)
		key := o["kind"].(string) + " " + str(meta["namespace"]) + "/" + str(meta["name"])
		if _, dup := out[key]; dup {
			t.Errorf("%s twice", key)
		}
		out[key] = o
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestChartRendersTheManifests: the defaults (and createNamespace) are
// deploy/kubernetes/daemonset.yaml and webhook.yaml, object for object.
func TestChartRendersTheManifests(t *testing.T) {
	var static strings.Builder
	for _, f := range []string{"daemonset.yaml", "webhook.yaml"} {
		b, err := os.ReadFile("../kubernetes/" + f)
		if err != nil {
			t.Fatal(err)
		}
		static.WriteString("---\n")
		static.Write(b)
		static.WriteString("\n")
	}
	want := objects(t, static.String())
	got := render(t, "createNamespace=true")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("helm template differs from deploy/kubernetes (-manifests +chart):\n%s", diff)
	}
	// Without createNamespace (helm install --create-namespace), all but
	// the Namespace.
	if _, ok := render(t)["Namespace /lxcfs-go"]; ok {
		t.Error("a Namespace without createNamespace")
	}
}

func TestChartLint(t *testing.T) {
	if out, err := helm(t, "lint", "--strict", "./lxcfs-go"); err != nil {
		t.Errorf("helm lint: %v\n%s", err, out)
	}
}

// dig follows keys (strings) and list indexes (ints) into an object.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func container(t *testing.T, objs map[string]map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		t.Fatalf("no %s", key)
	}
	return dig(t, o, "spec", "template", "spec", "containers", 0).(map[string]any)
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

const (
	daemonSet  = "DaemonSet lxcfs-go/lxcfs-go"
	keeperSet  = "DaemonSet lxcfs-go/lxcfs-go-keeper"
	deployment = "Deployment lxcfs-go/lxcfs-go-webhook"
	configKey  = "MutatingWebhookConfiguration /lxcfs-go"
)

func TestChartValues(t *testing.T) {
	t.Run("image", func(t *testing.T) {
		objs := render(t, "image.repository=registry.example/lxcfs-go", "image.tag=v1.2.3")
		for _, key := range []string{daemonSet, keeperSet, deployment} {
			if got := container(t, objs, key)["image"]; got != "registry.example/lxcfs-go:v1.2.3" {
				t.Errorf("%s image %v", key, got)
			}
		}
	})
	t.Run("daemon flags", func(t *testing.T) {
		cmd := strs(container(t, render(t, "daemon.flags={-u,--enable-cfs}"), daemonSet)["command"])
		want := []string{"/usr/bin/lxcfs-go", "host-cgroupns", "--", "--foreground", "-u", "--enable-cfs", "--pidfile=/run/lxcfs-go/lxcfs-go.pid", "/var/lib/lxcfs"}
		if diff := cmp.Diff(want, cmd); diff != "" {
			t.Errorf("command (-want +got):\n%s", diff)
		}
	})
	t.Run("mount path", func(t *testing.T) {
		objs := render(t, "mountPath=/run/lxcfs")
		c := container(t, objs, daemonSet)
		if got := strs(dig(t, c, "readinessProbe", "exec", "command")); got[len(got)-1] != "/run/lxcfs" {
			t.Errorf("readiness %v", got)
		}
		if _, ok := c["lifecycle"]; ok {
			t.Errorf("a lifecycle hook (the keeper keeps the connection): %v", c["lifecycle"])
		}
		// The volume is the mount point's parent: a stat of the FUSE mount
		// would wait for the daemon that is starting.
		if got := dig(t, objs[daemonSet], "spec", "template", "spec", "volumes", 0, "hostPath", "path"); got != "/run" {
			t.Errorf("hostPath %v", got)
		}
		if !slices.Contains(strs(container(t, objs, deployment)["command"]), "--lxcfs-dir=/run/lxcfs") {
			t.Error("the webhook does not point pods at /run/lxcfs")
		}
	})
	t.Run("pressure files", func(t *testing.T) {
		cmd := strs(container(t, render(t, "webhook.files={proc/meminfo,proc/pressure/cpu}"), deployment)["command"])
		if !slices.Contains(cmd, "--files=proc/meminfo,proc/pressure/cpu") {
			t.Errorf("webhook command %v", cmd)
		}
	})
	t.Run("every known file", func(t *testing.T) {
		all := append(slices.Clone(webhook.Files), webhook.PressureFiles...)
		cmd := strs(container(t, render(t, "webhook.files={"+strings.Join(all, ",")+"}"), deployment)["command"])
		if !slices.Contains(cmd, "--files="+strings.Join(all, ",")) {
			t.Errorf("webhook command %v", cmd)
		}
	})
	t.Run("resources", func(t *testing.T) {
		objs := render(t, "daemon.resources.limits.memory=256Mi", "webhook.resources.requests.cpu=20m")
		if got := dig(t, container(t, objs, daemonSet), "resources", "limits", "memory"); got != "256Mi" {
			t.Errorf("daemon limit %v", got)
		}
		if got := dig(t, container(t, objs, deployment), "resources", "requests", "cpu"); got != "20m" {
			t.Errorf("webhook request %v", got)
		}
	})
	t.Run("injection", func(t *testing.T) {
		objs := render(t, "webhook.injection.podAnnotation=false",
			"webhook.injection.namespaceSelector.matchLabels.team=apps", "webhook.injection.excludedNamespaces={kube-system,monitoring}")
		hooks := dig(t, objs[configKey], "webhooks").([]any)
		if len(hooks) != 2 {
			t.Fatalf("%d webhooks, want 2 without the annotation entry", len(hooks))
		}
		if got := dig(t, hooks[0], "namespaceSelector", "matchLabels", "team"); got != "apps" {
			t.Errorf("namespace selector %v", dig(t, hooks[0], "namespaceSelector"))
		}
		want := []string{"kube-system", "monitoring", "lxcfs-go"}
		if got := strs(dig(t, hooks[1], "namespaceSelector", "matchExpressions", 1, "values")); !slices.Equal(got, want) {
			t.Errorf("excluded namespaces %v, want %v", got, want)
		}
	})
	t.Run("no webhook", func(t *testing.T) {
		for key := range render(t, "webhook.enabled=false") {
			if key != daemonSet && key != keeperSet {
				t.Errorf("%s rendered without the webhook", key)
			}
		}
	})
}

// The chart's default files are the webhook's, and bad values fail the
// install with a message instead of breaking every pod.
func TestChartFiles(t *testing.T) {
	cmd := strs(container(t, render(t), deployment)["command"])
	if !slices.Contains(cmd, "--files="+strings.Join(webhook.Files, ",")) {
		t.Errorf("default files differ from webhook.Files: %v", cmd)
	}
	for set, want := range map[string]string{
		"webhook.files={proc/meminfo,etc/shadow}": `"etc/shadow" is not one of`,
		"webhook.files=null":                      "names no file",
	} {
		if _, err := helm(t, "template", "x", "./lxcfs-go", "--set", set); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: %v, want an error saying %q", set, err, want)
		}
	}
}

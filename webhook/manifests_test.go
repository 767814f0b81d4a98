package webhook

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The manifests in deploy/kubernetes must say what this package does: the
// example pod binds exactly what the webhook adds, and the webhook
// configuration calls the paths the server serves, with the key it reads.

func readManifest(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../deploy/kubernetes/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\t") {
		t.Errorf("%s has a tab: YAML indents with spaces", name)
	}
	return string(b)
}

func TestExamplePodMatchesWebhook(t *testing.T) {
	t.Parallel()
	y := readManifest(t, "example-pod.yaml")
	// "- name: X" followed by "mountPath: Y" is a mount; followed by
	// "hostPath:" and "path: Y" it is a volume.
	mountRE := regexp.MustCompile(`(?m)^\s*- name: (\S+)\n\s*mountPath: (\S+)\n\s*readOnly: true$`)
	volumeRE := regexp.MustCompile(`(?m)^\s*- name: (\S+)\n\s*hostPath:\n\s*path: (\S+)$`)
	var mounts, volumes []string
	for _, m := range mountRE.FindAllStringSubmatch(y, -1) {
		mounts = append(mounts, m[1]+"@"+m[2]+":ro")
	}
	for _, m := range volumeRE.FindAllStringSubmatch(y, -1) {
		volumes = append(volumes, m[1]+"="+m[2])
	}

	doc, _ := mutate(t, `{"metadata":{},"spec":{"containers":[{"name":"app"}]}}`, Options{})
	if diff := cmp.Diff(mountsOf(t, doc, "containers", 0), mounts); diff != "" {
		t.Errorf("example-pod.yaml volumeMounts differ from the webhook's (-webhook +yaml):\n%s", diff)
	}
	if diff := cmp.Diff(volumesOf(doc), volumes); diff != "" {
		t.Errorf("example-pod.yaml volumes differ from the webhook's (-webhook +yaml):\n%s", diff)
	}
}

func TestWebhookManifest(t *testing.T) {
	t.Parallel()
	y := readManifest(t, "webhook.yaml")
	for _, want := range []string{
		"path: /mutate\n", "path: /mutate-opt-in\n", "path: /healthz\n",
		"key: " + InjectKey + "\n", InjectKey + `: "true"`,
		"--lxcfs-dir=" + DefaultDir + "\n",
		`admissionReviewVersions: ["v1"]`,
		"failurePolicy: Ignore",
		"- webhook\n",
		// The default files, spelled out where a cluster would add the
		// pressure files.
		"--files=" + strings.Join(Files, ",") + "\n",
		// Self-managed certificates: the flags name what RBAC allows.
		"- --self-managed\n", "- --service=lxcfs-go-webhook\n", "- --webhook-config=lxcfs-go\n",
		"serviceAccountName: lxcfs-go-webhook\n",
		`resourceNames: ["lxcfs-go-webhook-ca"]`, `resourceNames: ["lxcfs-go"]`,
		"kind: MutatingWebhookConfiguration\nmetadata:\n  name: lxcfs-go\n",
		"kind: Service\nmetadata:\n  name: lxcfs-go-webhook\n  namespace: lxcfs-go\n",
		"        " + PartOfKey + ": " + PartOfValue + "\n",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("webhook.yaml lacks %q", want)
		}
	}
	// caBundle is the webhook's to set; one in the manifest would be
	// reset by every kubectl apply.
	if strings.Contains(y, "caBundle:") {
		t.Error("webhook.yaml sets caBundle")
	}
	if n := strings.Count(y, "failurePolicy: Ignore"); n != 3 || strings.Count(y, "failurePolicy:") != 3 {
		t.Errorf("%d webhooks with failurePolicy Ignore, want all 3", n)
	}

	ds := readManifest(t, "daemonset.yaml")
	for _, want := range []string{
		"hostPID: true", "privileged: true", "mountPropagation: Bidirectional",
		// The daemon mounts at DefaultDir inside its volume of the host's
		// parent directory: a volume of the FUSE mount itself would be
		// stat(2)ed by the kubelet before the next daemon could serve it.
		"- " + DefaultDir + "\n", "mountPath: " + filepath.Dir(DefaultDir) + "\n", "path: " + filepath.Dir(DefaultDir) + "\n",
		// No distribution tools in the image: the binary does it all.
		"- /usr/bin/lxcfs-go\n            - host-cgroupns\n",
		`["/usr/bin/lxcfs-go", "ready", "--timeout=2s", "` + DefaultDir + `"]`,
		// Kubernetes CPU limits are CFS quotas; per-pod load averages.
		"- --enable-cfs\n", "- --enable-loadavg\n",
		"type: RollingUpdate",
		"        " + PartOfKey + ": " + PartOfValue + "\n",
		// The keeper holds the connection across the daemon's pods.
		"- fd-keeper\n", "value: keeper\n", "type: OnDelete\n",
	} {
		if !strings.Contains(ds, want) {
			t.Errorf("daemonset.yaml lacks %q", want)
		}
	}
	// A preStop unmount would end the connection the keeper keeps for the
	// next daemon pod.
	for _, banned := range []string{"nsenter", "/bin/umount", "livenessProbe", "preStop:"} {
		if strings.Contains(ds, banned) {
			t.Errorf("daemonset.yaml has %q", banned)
		}
	}
}

// TestHelmValuesFiles: the chart's default webhook.files are the webhook's
// Files (the vfiles table's default binds).
func TestHelmValuesFiles(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../deploy/helm/lxcfs-go/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\nwebhook:\n")
	if !ok {
		t.Fatal("values.yaml has no webhook section")
	}
	_, rest, ok = strings.Cut(rest, "\n  files:\n")
	if !ok {
		t.Fatal("values.yaml has no webhook.files")
	}
	var files []string
	for line := range strings.SplitSeq(rest, "\n") {
		f, ok := strings.CutPrefix(line, "    - ")
		if !ok {
			break
		}
		files = append(files, f)
	}
	if diff := cmp.Diff(Files, files); diff != "" {
		t.Errorf("values.yaml webhook.files differ from the webhook's Files (-webhook +yaml):\n%s", diff)
	}
}

package webhook

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// request wraps a pod (as JSON) in a CREATE request.
func request(t *testing.T, podJSON string) AdmissionRequest {
	t.Helper()
	if !json.Valid([]byte(podJSON)) {
		t.Fatalf("bad test pod: %s", podJSON)
	}
	return AdmissionRequest{
		UID:       "7f0b2c4e-0000-4000-8000-000000000001",
		Kind:      GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: "default",
		Operation: "CREATE",
		Object:    json.RawMessage(podJSON),
	}
}

// mutate runs Mutate and applies its patch, returning the patched pod as a
// generic value and the operations; it checks the response's fixed fields.
func mutate(t *testing.T, podJSON string, opts Options) (any, []Operation) {
	t.Helper()
	req := request(t, podJSON)
	resp := Mutate(req, opts)
	if resp.UID != req.UID || !resp.Allowed {
		t.Fatalf("response uid %q allowed %v, want uid %q allowed", resp.UID, resp.Allowed, req.UID)
	}
	if len(resp.Warnings) > 0 {
		t.Errorf("warnings: %q", resp.Warnings)
	}
	var doc any
	if err := json.Unmarshal([]byte(podJSON), &doc); err != nil {
		t.Fatal(err)
	}
	if len(resp.Patch) == 0 {
		if resp.PatchType != "" {
			t.Errorf("patchType %q without a patch", resp.PatchType)
		}
		return doc, nil
	}
	if resp.PatchType != PatchTypeJSONPatch {
		t.Errorf("patchType = %q, want %q", resp.PatchType, PatchTypeJSONPatch)
	}
	var ops []Operation
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatalf("patch is not a JSON patch: %v\n%s", err, resp.Patch)
	}
	for _, op := range ops {
		var err error
		if doc, err = applyOp(doc, op); err != nil {
			t.Fatalf("patch does not apply: %v\npod: %s\npatch: %s", err, podJSON, resp.Patch)
		}
	}
	return doc, ops
}

// applyOp applies one "add" or "replace" as RFC 6902 defines them; it is
// strict where API servers are: the parent must exist, an array index must
// be in range, replace needs an existing member.
func applyOp(doc any, op Operation) (any, error) {
	if op.Op != "add" && op.Op != "replace" {
		return nil, fmt.Errorf("unexpected op %q", op.Op)
	}
	if !strings.HasPrefix(op.Path, "/") {
		return nil, fmt.Errorf("path %q is not a JSON pointer", op.Path)
	}
	value, err := roundTrip(op.Value)
	if err != nil {
		return nil, err
	}
	tokens := strings.Split(op.Path[1:], "/")
	for i, tok := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
	}
	parent := doc
	for _, tok := range tokens[:len(tokens)-1] {
		switch p := parent.(type) {
		case map[string]any:
			next, ok := p[tok]
			if !ok {
				return nil, fmt.Errorf("%s: no member %q", op.Path, tok)
			}
			parent = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(p) {
				return nil, fmt.Errorf("%s: bad index %q", op.Path, tok)
			}
			parent = p[i]
		default:
			return nil, fmt.Errorf("%s: %q is inside a scalar", op.Path, tok)
		}
	}
	last := tokens[len(tokens)-1]
	switch p := parent.(type) {
	case map[string]any:
		if _, ok := p[last]; op.Op == "replace" && !ok {
			return nil, fmt.Errorf("%s: replace of a missing member", op.Path)
		}
		p[last] = value
		return doc, nil
	case []any:
		if last != "-" || op.Op != "add" {
			return nil, fmt.Errorf("%s: only appends to arrays are expected", op.Path)
		}
		// The slice header lives in its parent: write the longer one back.
		return setAt(doc, tokens[:len(tokens)-1], append(p, value))
	default:
		return nil, fmt.Errorf("%s: parent is %T", op.Path, parent)
	}
}

func setAt(doc any, tokens []string, v any) (any, error) {
	if len(tokens) == 0 {
		return v, nil
	}
	switch d := doc.(type) {
	case map[string]any:
		child, err := setAt(d[tokens[0]], tokens[1:], v)
		d[tokens[0]] = child
		return d, err
	case []any:
		i, _ := strconv.Atoi(tokens[0])
		child, err := setAt(d[i], tokens[1:], v)
		d[i] = child
		return d, err
	}
	return nil, fmt.Errorf("cannot descend into %T", doc)
}

func roundTrip(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// mountsOf lists "volume@path" for each mount of a container in a patched pod.
func mountsOf(t *testing.T, doc any, field string, i int) []string {
	t.Helper()
	spec := doc.(map[string]any)["spec"].(map[string]any)
	c := spec[field].([]any)[i].(map[string]any)
	var out []string
	mounts, _ := c["volumeMounts"].([]any)
	for _, m := range mounts {
		m := m.(map[string]any)
		s := m["name"].(string) + "@" + m["mountPath"].(string)
		if ro, _ := m["readOnly"].(bool); ro {
			s += ":ro"
		}
		out = append(out, s)
	}
	return out
}

// volumesOf lists "name=hostPath" (or just the name) for each pod volume.
func volumesOf(doc any) []string {
	spec := doc.(map[string]any)["spec"].(map[string]any)
	vols, _ := spec["volumes"].([]any)
	var out []string
	for _, v := range vols {
		v := v.(map[string]any)
		s := v["name"].(string)
		if hp, ok := v["hostPath"].(map[string]any); ok {
			s += "=" + hp["path"].(string)
		}
		out = append(out, s)
	}
	return out
}

func allMounts(except ...string) []string {
	var out []string
	for _, f := range Files {
		if !contains(except, f) {
			out = append(out, VolumeName(f)+"@/"+f+":ro")
		}
	}
	return out
}

func allVolumes(dir string, except ...string) []string {
	var out []string
	for _, f := range Files {
		if !contains(except, f) {
			out = append(out, VolumeName(f)+"="+dir+"/"+f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func annotations(doc any) map[string]any {
	a, _ := doc.(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)
	return a
}

// A pod with no volumes, no volumeMounts and no annotations: the patch must
// create each array and the annotations map, in that exact shape.
func TestMutateCreatesMissingFields(t *testing.T) {
	t.Parallel()
	const p = `{"metadata":{"name":"web"},"spec":{"containers":[{"name":"app","image":"busybox"}]}}`
	doc, _ := mutate(t, p, Options{})
	var raw []json.RawMessage
	if err := json.Unmarshal(Mutate(request(t, p), Options{}).Patch, &raw); err != nil {
		t.Fatal(err)
	}

	wantOps := []string{
		`{"op":"add","path":"/spec/volumes","value":[` + strings.Join(func() []string {
			var vs []string
			for _, f := range Files {
				vs = append(vs, `{"name":"`+VolumeName(f)+`","hostPath":{"path":"/var/lib/lxcfs/`+f+`"}}`)
			}
			return vs
		}(), ",") + `]}`,
		`{"op":"add","path":"/spec/containers/0/volumeMounts","value":[` + strings.Join(func() []string {
			var ms []string
			for _, f := range Files {
				ms = append(ms, `{"name":"`+VolumeName(f)+`","mountPath":"/`+f+`","readOnly":true}`)
			}
			return ms
		}(), ",") + `]}`,
		`{"op":"add","path":"/metadata/annotations","value":{"lxcfs-go.io/injected":"true"}}`,
	}
	var gotOps []string
	for _, op := range raw {
		gotOps = append(gotOps, string(op))
	}
	if diff := cmp.Diff(wantOps, gotOps); diff != "" {
		t.Errorf("patch mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(allMounts(), mountsOf(t, doc, "containers", 0)); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(allVolumes("/var/lib/lxcfs"), volumesOf(doc)); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
}

func TestMutateSelection(t *testing.T) {
	t.Parallel()
	pod := func(labels, annotations string) string {
		return `{"metadata":{"labels":{` + labels + `},"annotations":{` + annotations + `}},` +
			`"spec":{"containers":[{"name":"app"}]}}`
	}
	tests := []struct {
		name    string
		pod     string
		optIn   bool
		patched bool
	}{
		{"selected, no opinion", pod(``, ``), false, true},
		{"selected, label false", pod(`"lxcfs-go.io/inject":"false"`, ``), false, false},
		{"selected, annotation false", pod(``, `"lxcfs-go.io/inject":"false"`), false, false},
		{"selected, label true annotation false", pod(`"lxcfs-go.io/inject":"true"`, `"lxcfs-go.io/inject":"false"`), false, false},
		{"opt-in endpoint, no opinion", pod(``, ``), true, false},
		{"opt-in endpoint, other labels", pod(`"app":"web"`, `"team":"a"`), true, false},
		{"opt-in endpoint, label true", pod(`"lxcfs-go.io/inject":"true"`, ``), true, true},
		{"opt-in endpoint, annotation true", pod(``, `"lxcfs-go.io/inject":"true"`), true, true},
		{"opt-in endpoint, annotation True", pod(``, `"lxcfs-go.io/inject":"True"`), true, true},
		{"opt-in endpoint, annotation false", pod(``, `"lxcfs-go.io/inject":"false"`), true, false},
		{"windows pod", `{"metadata":{},"spec":{"os":{"name":"windows"},"containers":[{"name":"app"}]}}`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ops := mutate(t, tt.pod, Options{RequireOptIn: tt.optIn})
			if got := len(ops) > 0; got != tt.patched {
				t.Errorf("patched = %v, want %v (ops %v)", got, tt.patched, ops)
			}
		})
	}
}

// Requests the webhook has no business with are allowed unchanged: other
// operations silently, other kinds and unreadable or missing pods with a
// warning that says why.
func TestMutateLeavesOtherRequests(t *testing.T) {
	t.Parallel()
	const p = `{"metadata":{},"spec":{"containers":[{"name":"app"}]}}`
	for _, tc := range []struct {
		name    string
		edit    func(*AdmissionRequest)
		warning string // "" for none
	}{
		{"update", func(r *AdmissionRequest) { r.Operation = "UPDATE" }, ""},
		{"delete", func(r *AdmissionRequest) { r.Operation = "DELETE" }, ""},
		{"subresource", func(r *AdmissionRequest) { r.SubResource = "ephemeralcontainers" }, ""},
		{"deployment", func(r *AdmissionRequest) {
			r.Kind = GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
		}, "apps/v1 Deployment not changed"},
		{"pod of another group", func(r *AdmissionRequest) {
			r.Kind = GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Pod"}
		}, "example.com/v1 Pod not changed"},
		{"no kind", func(r *AdmissionRequest) { r.Kind = GroupVersionKind{} }, "no kind"},
		{"no object", func(r *AdmissionRequest) { r.Object = nil }, "carries no pod"},
		{"null object", func(r *AdmissionRequest) { r.Object = json.RawMessage("null") }, "carries no pod"},
		{"malformed pod", func(r *AdmissionRequest) {
			r.Object = json.RawMessage(`{"spec":{"containers":"not a list"}}`)
		}, "cannot read it"},
		{"not an object", func(r *AdmissionRequest) { r.Object = json.RawMessage(`[1,2]`) }, "cannot read it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, p)
			tc.edit(&req)
			resp := Mutate(req, Options{})
			if !resp.Allowed || resp.UID != req.UID || resp.Patch != nil || resp.PatchType != "" {
				t.Errorf("got %+v, want allowed unchanged", resp)
			}
			switch {
			case tc.warning == "" && resp.Warnings != nil:
				t.Errorf("warnings %q, want none", resp.Warnings)
			case tc.warning != "" && (len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], tc.warning)):
				t.Errorf("warnings %q, want one saying %q", resp.Warnings, tc.warning)
			}
		})
	}
}

// lxcfs-go's own pods never get the files, whatever else they say.
func TestMutateSkipsOwnPods(t *testing.T) {
	t.Parallel()
	const p = `{"metadata":{"labels":{"app.kubernetes.io/part-of":"lxcfs-go","lxcfs-go.io/inject":"true"}},
		"spec":{"containers":[{"name":"lxcfs-go"}]}}`
	for _, opts := range []Options{{}, {RequireOptIn: true}} {
		if _, ops := mutate(t, p, opts); ops != nil {
			t.Errorf("%+v: the daemon's pod was patched: %v", opts, ops)
		}
	}
}

// Mutating an already mutated pod changes nothing: the API server may call
// the webhook again (reinvocationPolicy), or two webhook entries may match.
func TestMutateIsIdempotent(t *testing.T) {
	t.Parallel()
	pods := map[string]string{
		"bare": `{"metadata":{},"spec":{"containers":[{"name":"a"},{"name":"b"}]}}`,
		"full": `{"metadata":{"annotations":{"x":"y"}},"spec":{
			"volumes":[{"name":"data","emptyDir":{}}],
			"initContainers":[{"name":"init","volumeMounts":[{"name":"data","mountPath":"/data"}]}],
			"containers":[{"name":"a","volumeMounts":[{"name":"data","mountPath":"/data"}]}]}}`,
	}
	for name, p := range pods {
		once, ops := mutate(t, p, Options{})
		if len(ops) == 0 {
			t.Fatalf("%s: first pass did not patch", name)
		}
		b, _ := json.Marshal(once)
		twice, ops := mutate(t, string(b), Options{})
		if len(ops) != 0 {
			t.Errorf("%s: second pass patched again: %v", name, ops)
		}
		if diff := cmp.Diff(once, twice); diff != "" {
			t.Errorf("%s: second pass changed the pod:\n%s", name, diff)
		}
	}
}

// A pod that mounts something of its own where a file would go (its own
// /proc/meminfo, part of the cpu directory) is left as it is, with a
// warning naming the mounts; skipping those containers lets the others get
// the files.
func TestMutateLeavesPodsWithOwnMounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, pod string
		warnings  []string
	}{
		{"own meminfo", `{"metadata":{},"spec":{
			"volumes":[{"name":"fake-meminfo","configMap":{"name":"m"}}],
			"containers":[{"name":"own","volumeMounts":[{"name":"fake-meminfo","mountPath":"/proc/meminfo","subPath":"meminfo"}]},
				{"name":"plain"}]}}`,
			[]string{"container own mounts fake-meminfo at /proc/meminfo"}},
		{"below the cpu directory, in an init container", `{"metadata":{},"spec":{
			"volumes":[{"name":"online","hostPath":{"path":"/x"}}],
			"initContainers":[{"name":"init","volumeMounts":[{"name":"online","mountPath":"/sys/devices/system/cpu/online/"}]}],
			"containers":[{"name":"plain"}]}}`,
			[]string{"container init mounts online at /sys/devices/system/cpu/online/"}},
		{"two", `{"metadata":{},"spec":{
			"volumes":[{"name":"m","emptyDir":{}}],
			"containers":[{"name":"a","volumeMounts":[{"name":"m","mountPath":"/proc/uptime"},{"name":"m","mountPath":"/proc/stat"}]}]}}`,
			[]string{"container a mounts m at /proc/uptime", "container a mounts m at /proc/stat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := Mutate(request(t, tc.pod), Options{})
			if !resp.Allowed || resp.Patch != nil {
				t.Fatalf("got %+v, want allowed unchanged", resp)
			}
			if len(resp.Warnings) != 1 {
				t.Fatalf("warnings %q, want one", resp.Warnings)
			}
			for _, w := range append(tc.warnings, SkipContainersKey) {
				if !strings.Contains(resp.Warnings[0], w) {
					t.Errorf("warning %q does not say %q", resp.Warnings[0], w)
				}
			}
		})
	}
}

// With the container that has its own mounts skipped, the others get
// everything and the skipped one keeps its mounts.
func TestMutateSkippedContainerKeepsOwnMounts(t *testing.T) {
	t.Parallel()
	const p = `{"metadata":{"annotations":{"lxcfs-go.io/skip-containers":"own"}},"spec":{
		"volumes":[{"name":"fake-meminfo","configMap":{"name":"m"}}],
		"containers":[
			{"name":"own","volumeMounts":[{"name":"fake-meminfo","mountPath":"/proc/meminfo","subPath":"meminfo"}]},
			{"name":"plain"}]}}`
	doc, _ := mutate(t, p, Options{})
	if diff := cmp.Diff([]string{"fake-meminfo@/proc/meminfo"}, mountsOf(t, doc, "containers", 0)); diff != "" {
		t.Errorf("skipped container (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(allMounts(), mountsOf(t, doc, "containers", 1)); diff != "" {
		t.Errorf("plain container (-want +got):\n%s", diff)
	}
	vols := append([]string{"fake-meminfo"}, allVolumes("/var/lib/lxcfs")...)
	if diff := cmp.Diff(vols, volumesOf(doc)); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
}

// Init containers and several containers; containers named in the
// skip-containers annotation are left alone; existing arrays are appended
// to, never replaced.
func TestMutateManyContainers(t *testing.T) {
	t.Parallel()
	const p = `{"metadata":{"annotations":{"lxcfs-go.io/skip-containers":"proxy, other"}},"spec":{
		"volumes":[{"name":"data","emptyDir":{}}],
		"initContainers":[{"name":"init"}],
		"containers":[
			{"name":"app","volumeMounts":[{"name":"data","mountPath":"/data"}]},
			{"name":"proxy"},
			{"name":"worker","volumeMounts":[]}]}}`
	doc, ops := mutate(t, p, Options{})
	if diff := cmp.Diff(allMounts(), mountsOf(t, doc, "initContainers", 0)); diff != "" {
		t.Errorf("init container (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append([]string{"data@/data"}, allMounts()...), mountsOf(t, doc, "containers", 0)); diff != "" {
		t.Errorf("app (-want +got):\n%s", diff)
	}
	if got := mountsOf(t, doc, "containers", 1); got != nil {
		t.Errorf("skipped container proxy got mounts %v", got)
	}
	if diff := cmp.Diff(allMounts(), mountsOf(t, doc, "containers", 2)); diff != "" {
		t.Errorf("worker (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append([]string{"data"}, allVolumes("/var/lib/lxcfs")...), volumesOf(doc)); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
	for _, op := range ops {
		if op.Path == "/spec/volumes" || op.Path == "/spec/containers/0/volumeMounts" {
			t.Errorf("%s %s would replace the pod's own array", op.Op, op.Path)
		}
	}
}

func TestMutateAllContainersSkipped(t *testing.T) {
	t.Parallel()
	const p = `{"metadata":{"annotations":{"lxcfs-go.io/skip-containers":"app"}},"spec":{"containers":[{"name":"app"}]}}`
	if _, ops := mutate(t, p, Options{}); ops != nil {
		t.Errorf("patched a pod whose only container is skipped: %v", ops)
	}
}

// The annotation key has a "/", which a JSON pointer spells "~1".
func TestMutateAnnotationPointer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, annotations string
		want              Operation
	}{
		{"other annotations", `{"a/b":"c"}`,
			Operation{Op: "add", Path: "/metadata/annotations/lxcfs-go.io~1injected", Value: "true"}},
		{"stale value", `{"lxcfs-go.io/injected":"false"}`,
			Operation{Op: "replace", Path: "/metadata/annotations/lxcfs-go.io~1injected", Value: "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := `{"metadata":{"annotations":` + tt.annotations + `},"spec":{"containers":[{"name":"a"}]}}`
			doc, ops := mutate(t, p, Options{})
			if diff := cmp.Diff(tt.want, ops[len(ops)-1]); diff != "" {
				t.Errorf("annotation op (-want +got):\n%s", diff)
			}
			if got := annotations(doc)[InjectedKey]; got != "true" {
				t.Errorf("annotation %s = %v after the patch", InjectedKey, got)
			}
		})
	}
	if got := pointerKey("a~b/c"); got != "a~0b~1c" {
		t.Errorf(`pointerKey("a~b/c") = %q, want "a~0b~1c"`, got)
	}
}

func TestVolumeNamesAreDNSLabels(t *testing.T) {
	t.Parallel()
	for _, f := range Files {
		name := VolumeName(f)
		if len(name) > 63 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" ||
			strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
			t.Errorf("volume name %q is not a DNS-1123 label", name)
		}
		if strings.HasPrefix(f, "proc/pressure") {
			t.Errorf("%s is in Files, but runc refuses bind mounts there", f)
		}
	}
}

// Options.Files chooses the files: the pressure files for runtimes that
// allow them, or fewer; a pod's own mount conflicts only with a file it
// would get.
func TestMutateFiles(t *testing.T) {
	t.Parallel()
	opts := Options{Files: append([]string{"proc/meminfo"}, PressureFiles...)}
	doc, _ := mutate(t, `{"metadata":{},"spec":{"containers":[{"name":"app","volumeMounts":[{"name":"x","mountPath":"/proc/cpuinfo"}]}]}}`, opts)
	want := []string{"x@/proc/cpuinfo", "lxcfs-go-proc-meminfo@/proc/meminfo:ro",
		"lxcfs-go-proc-pressure-cpu@/proc/pressure/cpu:ro", "lxcfs-go-proc-pressure-io@/proc/pressure/io:ro",
		"lxcfs-go-proc-pressure-memory@/proc/pressure/memory:ro"}
	if diff := cmp.Diff(want, mountsOf(t, doc, "containers", 0)); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	for _, f := range append(append([]string(nil), Files...), PressureFiles...) {
		if !KnownFile(f) {
			t.Errorf("%s is not known", f)
		}
	}
	for _, f := range []string{"proc/self/status", "etc/passwd", "proc", "", "proc/pressure"} {
		if KnownFile(f) {
			t.Errorf("%q is known", f)
		}
	}
}

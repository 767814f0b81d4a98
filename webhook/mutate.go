package webhook

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/lxcfs-go/lxcfs-go/vfiles"
)

// Keys of the labels and annotations the webhook reads and writes.
const (
	// InjectKey, as a label or an annotation, opts a pod in ("true") or out
	// ("false"). The same key on a namespace's labels opts its pods in,
	// through the MutatingWebhookConfiguration's namespaceSelector.
	InjectKey = "lxcfs-go.io/inject"
	// SkipContainersKey is an annotation listing containers to leave alone,
	// separated by commas.
	SkipContainersKey = "lxcfs-go.io/skip-containers"
	// InjectedKey is the annotation the webhook sets on the pods it changed.
	InjectedKey = "lxcfs-go.io/injected"
	// PartOfKey: PartOfValue marks lxcfs-go's own pods (the daemon, the
	// webhook), which never get the files: the daemon's pod must not bind
	// the mount it serves.
	PartOfKey   = "app.kubernetes.io/part-of"
	PartOfValue = "lxcfs-go"
)

// DefaultDir is where the DaemonSet mounts the daemon on each node.
const DefaultDir = "/var/lib/lxcfs"

// Files are the daemon's files a container gets, each at the same path below
// the daemon's directory and below the container's root: what the vfiles
// table binds by default (proc/meminfo, ..., and the whole
// sys/devices/system/cpu view). /proc/pressure/* is not among them: runc
// refuses bind mounts there.
var Files = vfiles.Bound()

// PressureFiles are the daemon's PSI files, the table's opt-in rows. They
// are not among Files by default: runc refuses bind mounts onto
// /proc/pressure (docs/oci.md), so a pod given them would not start. For
// runtimes that allow them, name them in Options.Files (--files).
var PressureFiles = vfiles.OptIn()

// KnownFile reports whether file is one the daemon serves and a pod can
// be given: one of Files or PressureFiles.
func KnownFile(file string) bool {
	return slices.Contains(Files, file) || slices.Contains(PressureFiles, file)
}

// VolumeName is the name of the pod volume that carries file.
func VolumeName(file string) string {
	return "lxcfs-go-" + strings.ReplaceAll(file, "/", "-")
}

// Options say where the daemon is and who gets its files.
type Options struct {
	// Dir is the daemon's mount point on the nodes; "" means DefaultDir.
	Dir string
	// RequireOptIn mutates only pods labelled or annotated with
	// InjectKey: "true"; otherwise every pod that did not opt out.
	RequireOptIn bool
	// Files a pod gets (each KnownFile); nil means Files.
	Files []string
}

func (o Options) files() []string {
	if len(o.Files) == 0 {
		return Files
	}
	return o.Files
}

// Mutate answers one admission request. It never refuses a pod: a request
// it cannot read, for another kind of object, or for a pod that mounts
// something of its own where a file would go, is allowed unchanged, with a
// warning.
func Mutate(req AdmissionRequest, opts Options) AdmissionResponse {
	resp := AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" {
		resp.Warnings = []string{fmt.Sprintf("lxcfs-go webhook: %s not changed: only pods get lxcfs-go's files (check the webhook configuration's rules)",
			kindName(req.Kind))}
		return resp
	}
	if req.SubResource != "" || req.Operation != "CREATE" {
		return resp
	}
	if len(req.Object) == 0 || string(req.Object) == "null" {
		resp.Warnings = []string{"lxcfs-go webhook: pod not changed: the request carries no pod"}
		return resp
	}
	var p pod
	if err := json.Unmarshal(req.Object, &p); err != nil {
		resp.Warnings = []string{fmt.Sprintf("lxcfs-go webhook: pod not changed: cannot read it: %v", err)}
		return resp
	}
	if !wanted(p, opts.RequireOptIn) {
		return resp
	}
	if conflicts := ownMounts(p, opts.files()); len(conflicts) > 0 {
		resp.Warnings = []string{fmt.Sprintf("lxcfs-go webhook: pod not changed: %s; to give the other containers the files, list these in the annotation %s",
			strings.Join(conflicts, "; "), SkipContainersKey)}
		return resp
	}
	ops := patch(p, opts.Dir, opts.files())
	if len(ops) == 0 {
		return resp
	}
	b, err := json.Marshal(ops)
	if err != nil { // cannot happen: ops holds strings and structs of strings
		resp.Warnings = []string{fmt.Sprintf("lxcfs-go webhook: pod not changed: %v", err)}
		return resp
	}
	resp.Patch = b
	resp.PatchType = PatchTypeJSONPatch
	return resp
}

// wanted applies the pod's own opt-in and opt-out.
func wanted(p pod, requireOptIn bool) bool {
	if p.Spec.OS != nil && p.Spec.OS.Name == "windows" {
		return false
	}
	if p.Metadata.Labels[PartOfKey] == PartOfValue {
		return false
	}
	label, annotation := p.Metadata.Labels[InjectKey], p.Metadata.Annotations[InjectKey]
	if strings.EqualFold(label, "false") || strings.EqualFold(annotation, "false") {
		return false
	}
	if requireOptIn {
		return strings.EqualFold(label, "true") || strings.EqualFold(annotation, "true")
	}
	return true
}

// kindName is "Pod", "apps/v1 Deployment", ...
func kindName(k GroupVersionKind) string {
	switch {
	case k.Kind == "":
		return "an object of no kind"
	case k.Group == "":
		return k.Version + " " + k.Kind
	default:
		return k.Group + "/" + k.Version + " " + k.Kind
	}
}

// ownMounts lists, for the containers the webhook would change, the mounts
// the pod makes itself at or below a path of ours ("container app mounts
// config at /proc/meminfo"). Mounts of our own volumes are not the pod's:
// they are a previous pass of this webhook.
func ownMounts(p pod, files []string) []string {
	skip := skipped(p)
	var out []string
	for _, list := range [][]container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range list {
			if skip[c.Name] {
				continue
			}
			for _, m := range c.VolumeMounts {
				for _, file := range files {
					at, target := path.Clean(m.MountPath), "/"+file
					if m.Name != VolumeName(file) && (at == target || strings.HasPrefix(at, target+"/")) {
						out = append(out, fmt.Sprintf("container %s mounts %s at %s", c.Name, m.Name, m.MountPath))
					}
				}
			}
		}
	}
	return out
}

// skipped is the set of containers named in the skip annotation.
func skipped(p pod) map[string]bool {
	skip := map[string]bool{}
	for _, name := range strings.Split(p.Metadata.Annotations[SkipContainersKey], ",") {
		if name = strings.TrimSpace(name); name != "" {
			skip[name] = true
		}
	}
	return skip
}

// patch builds the JSON patch for a pod that wants the files.
func patch(p pod, dir string, files []string) []Operation {
	if dir == "" {
		dir = DefaultDir
	}
	skip := skipped(p)

	var mountOps []Operation
	used := map[string]bool{} // files some new mount refers to
	for _, list := range []struct {
		field      string
		containers []container
	}{
		{"initContainers", p.Spec.InitContainers},
		{"containers", p.Spec.Containers},
	} {
		for i, c := range list.containers {
			if skip[c.Name] {
				continue
			}
			var add []VolumeMount
			for _, file := range files {
				if mounted(c, file) {
					continue
				}
				used[file] = true
				add = append(add, VolumeMount{Name: VolumeName(file), MountPath: "/" + file, ReadOnly: true})
			}
			mountOps = appendItems(mountOps,
				fmt.Sprintf("/spec/%s/%d/volumeMounts", list.field, i), len(c.VolumeMounts) == 0, add)
		}
	}
	if len(mountOps) == 0 {
		return nil
	}

	var volumes []Volume
	for _, file := range files {
		if !used[file] || slices.ContainsFunc(p.Spec.Volumes, func(v namedVolume) bool {
			return v.Name == VolumeName(file)
		}) {
			continue
		}
		volumes = append(volumes, Volume{Name: VolumeName(file), HostPath: HostPath{Path: path.Join(dir, file)}})
	}
	ops := appendItems(nil, "/spec/volumes", len(p.Spec.Volumes) == 0, volumes)
	ops = append(ops, mountOps...)

	switch value, ok := p.Metadata.Annotations[InjectedKey]; {
	case p.Metadata.Annotations == nil:
		ops = append(ops, Operation{Op: "add", Path: "/metadata/annotations", Value: map[string]string{InjectedKey: "true"}})
	case !ok:
		ops = append(ops, Operation{Op: "add", Path: "/metadata/annotations/" + pointerKey(InjectedKey), Value: "true"})
	case value != "true":
		ops = append(ops, Operation{Op: "replace", Path: "/metadata/annotations/" + pointerKey(InjectedKey), Value: "true"})
	}
	return ops
}

// mounted reports whether the container already has file: a mount of our
// volume, or any mount at its path or below it.
func mounted(c container, file string) bool {
	target := "/" + file
	for _, m := range c.VolumeMounts {
		at := path.Clean(m.MountPath)
		if m.Name == VolumeName(file) || at == target || strings.HasPrefix(at, target+"/") {
			return true
		}
	}
	return false
}

// appendItems adds items to the array at ptr: one "add" of the whole array
// when the pod has none (the field may be absent, null or empty), else one
// "add" at the end ("-") per item.
func appendItems[T any](ops []Operation, ptr string, empty bool, items []T) []Operation {
	if len(items) == 0 {
		return ops
	}
	if empty {
		return append(ops, Operation{Op: "add", Path: ptr, Value: items})
	}
	for _, item := range items {
		ops = append(ops, Operation{Op: "add", Path: ptr + "/-", Value: item})
	}
	return ops
}

// pointerKey escapes a map key for a JSON pointer (RFC 6901): "~" is "~0"
// and "/" is "~1".
func pointerKey(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

package webhook

import "encoding/json"

// The AdmissionReview v1 objects (admission.k8s.io/v1), reduced to the
// fields this webhook reads or writes.

// APIVersion is the only AdmissionReview version this webhook speaks.
const APIVersion = "admission.k8s.io/v1"

// AdmissionReview is what the API server posts and what it gets back.
type AdmissionReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *AdmissionRequest  `json:"request,omitempty"`
	Response   *AdmissionResponse `json:"response,omitempty"`
}

// GroupVersionKind names the kind of the object under review.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// GroupVersionResource names the resource under review.
type GroupVersionResource struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

// AdmissionRequest is one object the API server asks about.
type AdmissionRequest struct {
	UID         string               `json:"uid"`
	Kind        GroupVersionKind     `json:"kind"`
	Resource    GroupVersionResource `json:"resource"`
	SubResource string               `json:"subResource,omitempty"`
	Name        string               `json:"name,omitempty"`
	Namespace   string               `json:"namespace,omitempty"`
	Operation   string               `json:"operation"`
	Object      json.RawMessage      `json:"object,omitempty"`
	DryRun      *bool                `json:"dryRun,omitempty"`
}

// AdmissionResponse is the answer: always allowed, with a JSON patch when
// the pod gets mounts.
type AdmissionResponse struct {
	UID       string   `json:"uid"`
	Allowed   bool     `json:"allowed"`
	Patch     []byte   `json:"patch,omitempty"` // base64 in JSON, as the API wants
	PatchType string   `json:"patchType,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// PatchTypeJSONPatch is the only patch type of admission v1.
const PatchTypeJSONPatch = "JSONPatch"

// Operation is one RFC 6902 JSON patch operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// pod is the part of a core/v1 Pod that Mutate reads.
type pod struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		OS *struct {
			Name string `json:"name"`
		} `json:"os"`
		Volumes        []namedVolume `json:"volumes"`
		Containers     []container   `json:"containers"`
		InitContainers []container   `json:"initContainers"`
	} `json:"spec"`
}

type namedVolume struct {
	Name string `json:"name"`
}

type container struct {
	Name         string        `json:"name"`
	VolumeMounts []VolumeMount `json:"volumeMounts"`
}

// Volume is a hostPath volume as the patch adds it.
type Volume struct {
	Name     string   `json:"name"`
	HostPath HostPath `json:"hostPath"`
}

// HostPath is a core/v1 HostPathVolumeSource.
type HostPath struct {
	Path string `json:"path"`
}

// VolumeMount is a core/v1 VolumeMount.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// Package ociimage writes a single-layer container image as one tar file
// that `docker load`, `podman load` and `ctr images import` all accept: an
// OCI image layout (oci-layout, index.json, blobs/sha256/...) that also
// carries the docker-archive manifest.json, the same shape `docker save`
// writes since Docker 25.
//
// Why by hand and not with github.com/google/go-containerregistry: the
// format is three small JSON documents, two tars and sha256 digests, about
// 300 lines with its tests; go-containerregistry would add a dozen modules
// to the project's go.mod for one build-time tool, and its tarball writer
// still leaves reproducibility (mtimes, ordering, owners) to the caller.
//
// The output is a pure function of the Image value: every tar entry has the
// same mtime (Image.Created, from SOURCE_DATE_EPOCH), uid and gid 0, no user
// or group names, and entries are sorted, so two builds from the same
// commit are byte-identical and have the same digest.
package ociimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Media types of the OCI image spec (v1.1).
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// Annotation keys on index.json's entries: containerd names an imported
// image after the first, the OCI layout's tools after the second.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// ErrInvalid is wrapped by every error about a bad Image value.
var ErrInvalid = errors.New("invalid image")

// File is one regular file of the layer.
type File struct {
	Path string // absolute, e.g. "/usr/bin/lxcfs-go"
	Mode int64  // permission bits, e.g. 0o755
	Data []byte
}

// Dir is one directory of the layer. Parents of files and of other
// directories are added with mode 0755 when not listed.
type Dir struct {
	Path string
	Mode int64 // permission bits, and tar's sticky bit (01000) for /tmp
}

// Image is everything the tar depends on.
type Image struct {
	// Tags are "name:tag" references, e.g. "lxcfs-go:v1.2" and
	// "lxcfs-go:latest"; short names mean docker.io/library/name, as docker
	// and the kubelet read them.
	Tags       []string
	Created    time.Time // image creation time and every tar entry's mtime
	OS         string    // "linux"
	Arch       string    // GOARCH: "amd64", "arm64", ...
	Entrypoint []string
	Cmd        []string
	Env        []string
	Labels     map[string]string
	Files      []File
	Dirs       []Dir
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Index is index.json.
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// Manifest is an OCI image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// DockerManifest is one entry of docker-archive's manifest.json.
type DockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// Config is the image configuration (the parts an image of one static
// binary has).
type Config struct {
	Created      string          `json:"created"`
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Config       ContainerConfig `json:"config"`
	RootFS       RootFS          `json:"rootfs"`
	History      []History       `json:"history"`
}

// ContainerConfig is the config's "config": how a container starts.
type ContainerConfig struct {
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	Cmd        []string          `json:"Cmd,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// RootFS lists the layers' uncompressed digests.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// History is one step of the image's history.
type History struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

// tagRE is a reference as docker accepts it for a tag: a lower-case
// repository path and a tag of at most 128 characters.
var tagRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// FullName is how containerd and the kubelet spell a short reference:
// "lxcfs-go:v1" is "docker.io/library/lxcfs-go:v1".
func FullName(ref string) string {
	first, _, hasSlash := strings.Cut(ref, "/")
	switch {
	case !hasSlash:
		return "docker.io/library/" + ref
	case strings.ContainsAny(first, ".:") || first == "localhost":
		return ref
	default:
		return "docker.io/" + ref
	}
}

// Write writes the image's tar to w.
func Write(w io.Writer, img Image) error {
	if err := img.validate(); err != nil {
		return err
	}
	mtime := img.Created.UTC().Truncate(time.Second)

	layer, err := img.layer(mtime)
	if err != nil {
		return err
	}
	layerDesc := descriptor(MediaTypeLayer, layer)

	created := mtime.Format(time.RFC3339)
	config, err := json.Marshal(Config{
		Created:      created,
		Architecture: img.Arch,
		OS:           img.OS,
		Config: ContainerConfig{
			Entrypoint: img.Entrypoint,
			Cmd:        img.Cmd,
			Env:        img.Env,
			Labels:     img.Labels,
		},
		RootFS:  RootFS{Type: "layers", DiffIDs: []string{layerDesc.Digest}},
		History: []History{{Created: created, CreatedBy: "lxcfs-go tools/mkimage"}},
	})
	if err != nil {
		return err
	}
	configDesc := descriptor(MediaTypeConfig, config)

	manifest, err := json.Marshal(Manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        configDesc,
		Layers:        []Descriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	manifestDesc := descriptor(MediaTypeManifest, manifest)

	index := Index{SchemaVersion: 2, MediaType: MediaTypeIndex}
	for _, tag := range img.Tags {
		d := manifestDesc
		short := tag[strings.LastIndex(tag, ":")+1:]
		d.Annotations = map[string]string{AnnotationImageName: FullName(tag), AnnotationRefName: short}
		index.Manifests = append(index.Manifests, d)
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	dockerJSON, err := json.Marshal([]DockerManifest{{
		Config:   blobPath(configDesc.Digest),
		RepoTags: img.Tags,
		Layers:   []string{blobPath(layerDesc.Digest)},
	}})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	entries := []entry{
		{name: "blobs/", dir: true},
		{name: "blobs/sha256/", dir: true},
		{name: blobPath(configDesc.Digest), data: config},
		{name: blobPath(layerDesc.Digest), data: layer},
		{name: blobPath(manifestDesc.Digest), data: manifest},
		{name: "index.json", data: indexJSON},
		{name: "manifest.json", data: dockerJSON},
		{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	}
	// A blob's name is its digest: two equal blobs are one entry.
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	entries = slices.CompactFunc(entries, func(a, b entry) bool { return a.name == b.name })
	for _, e := range entries {
		mode := int64(0o644)
		if e.dir {
			mode = 0o755
		}
		if err := e.write(tw, mode, mtime); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (img Image) validate() error {
	if len(img.Tags) == 0 {
		return fmt.Errorf("%w: no tags", ErrInvalid)
	}
	for _, t := range img.Tags {
		if !tagRE.MatchString(t) {
			return fmt.Errorf("%w: tag %q is not name:tag", ErrInvalid, t)
		}
	}
	if img.OS == "" || img.Arch == "" {
		return fmt.Errorf("%w: no OS or architecture", ErrInvalid)
	}
	if img.Created.Before(time.Unix(0, 0)) {
		return fmt.Errorf("%w: creation time %v before 1970", ErrInvalid, img.Created)
	}
	seen := map[string]bool{}
	for _, p := range append(filePaths(img.Files), dirPaths(img.Dirs)...) {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			return fmt.Errorf("%w: path %q is not a clean absolute path below /", ErrInvalid, p)
		}
		if seen[p] {
			return fmt.Errorf("%w: %s listed twice", ErrInvalid, p)
		}
		seen[p] = true
	}
	for _, f := range img.Files {
		for p := range seen {
			if strings.HasPrefix(p, f.Path+"/") {
				return fmt.Errorf("%w: file %s is also the parent directory of %s", ErrInvalid, f.Path, p)
			}
		}
	}
	return nil
}

func filePaths(fs []File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path
	}
	return out
}

func dirPaths(ds []Dir) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Path
	}
	return out
}

// layer is the uncompressed layer tar: directories (listed and implied)
// and files, sorted by path, each directory before what it holds.
func (img Image) layer(mtime time.Time) ([]byte, error) {
	dirs := map[string]int64{}
	addParents := func(p string) {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	for _, d := range img.Dirs {
		dirs[d.Path] = d.Mode
		addParents(d.Path)
	}
	var entries []entry
	for _, f := range img.Files {
		addParents(f.Path)
		entries = append(entries, entry{name: f.Path[1:], data: f.Data, mode: f.Mode})
	}
	for d, mode := range dirs {
		entries = append(entries, entry{name: d[1:] + "/", dir: true, mode: mode})
	}
	// "usr/" sorts before "usr/bin/" and before "usr/bin/lxcfs-go".
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := e.write(tw, e.mode, mtime); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type entry struct {
	name string
	dir  bool
	mode int64
	data []byte
}

// write adds e with everything that could differ between two machines or
// two builds fixed: owner 0:0 without names, one mtime, USTAR (no atime,
// ctime or PAX records).
func (e entry) write(tw *tar.Writer, mode int64, mtime time.Time) error {
	hdr := &tar.Header{
		Name:    e.name,
		Mode:    mode,
		ModTime: mtime,
		Format:  tar.FormatUSTAR,
	}
	if e.dir {
		hdr.Typeflag = tar.TypeDir
	} else {
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(e.data))
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar entry %s: %w", e.name, err)
	}
	if _, err := tw.Write(e.data); err != nil {
		return fmt.Errorf("tar entry %s: %w", e.name, err)
	}
	return nil
}

func descriptor(mediaType string, blob []byte) Descriptor {
	return Descriptor{MediaType: mediaType, Digest: Digest(blob), Size: int64(len(blob))}
}

// Digest is blob's "sha256:<hex>".
func Digest(blob []byte) string {
	sum := sha256.Sum256(blob)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

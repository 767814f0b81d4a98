package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testImage() Image {
	return Image{
		Tags:       []string{"lxcfs-go:v1.2-3-gabcdef", "lxcfs-go:latest"},
		Created:    time.Unix(1700000000, 0),
		OS:         "linux",
		Arch:       "amd64",
		Entrypoint: []string{"/usr/bin/lxcfs-go"},
		Cmd:        []string{"--foreground", "/var/lib/lxcfs"},
		Files:      []File{{Path: "/usr/bin/lxcfs-go", Mode: 0o755, Data: []byte("#!binary\n")}},
		Dirs:       []Dir{{Path: "/tmp", Mode: 0o1777}, {Path: "/var/lib/lxcfs", Mode: 0o755}, {Path: "/run", Mode: 0o755}},
	}
}

func build(t *testing.T, img Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readTar returns the entries of a tar in order, with their headers.
func readTar(t *testing.T, b []byte) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	var hdrs []*tar.Header
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
		files[h.Name] = data
	}
}

func TestDeterministic(t *testing.T) {
	a, b := build(t, testImage()), build(t, testImage())
	if !bytes.Equal(a, b) {
		t.Fatalf("two builds differ: %s vs %s", Digest(a), Digest(b))
	}
	// The input does matter: a test that cannot fail proves nothing.
	other := testImage()
	other.Created = other.Created.Add(time.Second)
	if bytes.Equal(a, build(t, other)) {
		t.Fatal("a different mtime gave the same bytes")
	}
}

func TestReproducibleFields(t *testing.T) {
	outer, files := readTar(t, build(t, testImage()))
	var idx Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(files[blobPath(idx.Manifests[0].Digest)], &m); err != nil {
		t.Fatal(err)
	}
	inner, _ := readTar(t, files[blobPath(m.Layers[0].Digest)])
	for _, h := range append(outer, inner...) {
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s: owner %d:%d %q:%q mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
	}
	for _, hs := range [][]*tar.Header{outer, inner} {
		for i := 1; i < len(hs); i++ {
			if hs[i-1].Name >= hs[i].Name {
				t.Errorf("entries not sorted: %s before %s", hs[i-1].Name, hs[i].Name)
			}
		}
	}
}

func TestStructure(t *testing.T) {
	_, files := readTar(t, build(t, testImage()))
	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout: %s", got)
	}
	// Every blob is named by its digest.
	for name, data := range files {
		if hex, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && hex != "" {
			if got := Digest(data); got != "sha256:"+hex {
				t.Errorf("%s has digest %s", name, got)
			}
		}
	}

	var idx Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != MediaTypeIndex || len(idx.Manifests) != 2 {
		t.Fatalf("index.json: %+v", idx)
	}
	var names []string
	for _, d := range idx.Manifests {
		names = append(names, d.Annotations[AnnotationImageName]+" "+d.Annotations[AnnotationRefName])
		if d.Digest != idx.Manifests[0].Digest || d.MediaType != MediaTypeManifest {
			t.Errorf("index entry %+v", d)
		}
	}
	want := []string{"docker.io/library/lxcfs-go:v1.2-3-gabcdef v1.2-3-gabcdef", "docker.io/library/lxcfs-go:latest latest"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("index names (-want +got):\n%s", diff)
	}
	manifestBlob := files[blobPath(idx.Manifests[0].Digest)]
	if int64(len(manifestBlob)) != idx.Manifests[0].Size {
		t.Errorf("manifest size %d, index says %d", len(manifestBlob), idx.Manifests[0].Size)
	}
	var m Manifest
	if err := json.Unmarshal(manifestBlob, &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != MediaTypeConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeLayer {
		t.Fatalf("manifest: %+v", m)
	}

	var docker []DockerManifest
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil {
		t.Fatal(err)
	}
	wantDocker := []DockerManifest{{
		Config:   blobPath(m.Config.Digest),
		RepoTags: []string{"lxcfs-go:v1.2-3-gabcdef", "lxcfs-go:latest"},
		Layers:   []string{blobPath(m.Layers[0].Digest)},
	}}
	if diff := cmp.Diff(wantDocker, docker); diff != "" {
		t.Errorf("manifest.json (-want +got):\n%s", diff)
	}

	var c Config
	if err := json.Unmarshal(files[blobPath(m.Config.Digest)], &c); err != nil {
		t.Fatal(err)
	}
	wantConfig := Config{
		Created:      "2023-11-14T22:13:20Z",
		Architecture: "amd64",
		OS:           "linux",
		Config: ContainerConfig{
			Entrypoint: []string{"/usr/bin/lxcfs-go"},
			Cmd:        []string{"--foreground", "/var/lib/lxcfs"},
		},
		RootFS:  RootFS{Type: "layers", DiffIDs: []string{m.Layers[0].Digest}},
		History: []History{{Created: "2023-11-14T22:13:20Z", CreatedBy: "lxcfs-go tools/mkimage"}},
	}
	if diff := cmp.Diff(wantConfig, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	hdrs, layer := readTar(t, files[blobPath(m.Layers[0].Digest)])
	var got []string
	for _, h := range hdrs {
		got = append(got, h.Name+" "+string(rune(h.Typeflag))+" "+modeString(h.Mode))
	}
	wantLayer := []string{
		"run/ 5 755",
		"tmp/ 5 1777",
		"usr/ 5 755",
		"usr/bin/ 5 755",
		"usr/bin/lxcfs-go 0 755",
		"var/ 5 755",
		"var/lib/ 5 755",
		"var/lib/lxcfs/ 5 755",
	}
	if diff := cmp.Diff(wantLayer, got); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
	if string(layer["usr/bin/lxcfs-go"]) != "#!binary\n" {
		t.Errorf("binary: %q", layer["usr/bin/lxcfs-go"])
	}
}

func modeString(m int64) string {
	const digits = "01234567"
	var b []byte
	for m > 0 {
		b = append([]byte{digits[m&7]}, b...)
		m >>= 3
	}
	return string(b)
}

func TestInvalid(t *testing.T) {
	for name, change := range map[string]func(*Image){
		"no tags":          func(i *Image) { i.Tags = nil },
		"tag without name": func(i *Image) { i.Tags = []string{":v1"} },
		"tag without tag":  func(i *Image) { i.Tags = []string{"lxcfs-go"} },
		"upper-case name":  func(i *Image) { i.Tags = []string{"LXCFS:v1"} },
		"tag too long":     func(i *Image) { i.Tags = []string{"lxcfs-go:" + strings.Repeat("a", 129)} },
		"no arch":          func(i *Image) { i.Arch = "" },
		"relative path":    func(i *Image) { i.Files[0].Path = "usr/bin/x" },
		"unclean path":     func(i *Image) { i.Dirs[0].Path = "/tmp/../etc" },
		"root":             func(i *Image) { i.Dirs[0].Path = "/" },
		"twice":            func(i *Image) { i.Dirs[0].Path = "/run" },
		"file as parent":   func(i *Image) { i.Dirs[0].Path = "/usr/bin/lxcfs-go/x" },
		"before 1970":      func(i *Image) { i.Created = time.Unix(-1, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			img := testImage()
			img.Files = append([]File(nil), img.Files...)
			img.Dirs = append([]Dir(nil), img.Dirs...)
			change(&img)
			if err := Write(io.Discard, img); !errors.Is(err, ErrInvalid) {
				t.Errorf("Write: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestFullName(t *testing.T) {
	for in, want := range map[string]string{
		"lxcfs-go:v1":               "docker.io/library/lxcfs-go:v1",
		"me/lxcfs-go:v1":            "docker.io/me/lxcfs-go:v1",
		"registry.example/x:v1":     "registry.example/x:v1",
		"localhost/lxcfs-go:latest": "localhost/lxcfs-go:latest",
		"host:5000/x:v1":            "host:5000/x:v1",
	} {
		if got := FullName(in); got != want {
			t.Errorf("FullName(%q) = %q, want %q", in, got, want)
		}
	}
}

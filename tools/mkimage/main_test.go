package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/internal/ociimage"
)

// binary is the daemon `make test` built (LXCFS_GO_BIN), so that the image
// checked is the one `make image` writes; without it, any file does.
func binary(t *testing.T) string {
	if bin := os.Getenv("LXCFS_GO_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "lxcfs-go")
	if err := os.WriteFile(bin, []byte("not really lxcfs-go\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func mkimage(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var stderr bytes.Buffer
	code := run(args, &stderr)
	return map[int]string{0: "ok", 1: "error", 2: "usage"}[code], stderr.String()
}

// TestBuildTwice is `make image` twice from one commit: the same bytes.
func TestBuildTwice(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	var sums []string
	for _, name := range []string{"a.tar", "b.tar"} {
		if code, stderr := mkimage(t, "-bin", bin, "-version", "v0.1.0-7-g0123abc", "-epoch", "1700000000", "-o", filepath.Join(dir, name)); code != "ok" {
			t.Fatalf("mkimage: %s: %s", code, stderr)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, ociimage.Digest(b))
	}
	if sums[0] != sums[1] {
		t.Fatalf("two builds differ: %s and %s", sums[0], sums[1])
	}
	// And a different commit time is a different image.
	if code, stderr := mkimage(t, "-bin", bin, "-version", "v0.1.0-7-g0123abc", "-epoch", "1700000001", "-o", filepath.Join(dir, "c.tar")); code != "ok" {
		t.Fatalf("mkimage: %s: %s", code, stderr)
	}
	c, _ := os.ReadFile(filepath.Join(dir, "c.tar"))
	if ociimage.Digest(c) == sums[0] {
		t.Error("another epoch gave the same image")
	}
	// Nothing but the outputs is left in the directory.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("%d files in the output directory, want 3", len(entries))
	}
}

// TestImageContents reads the tar as a loader would: the tags, the
// entrypoint, and the binary at /usr/bin/lxcfs-go, byte for byte.
func TestImageContents(t *testing.T) {
	bin := binary(t)
	out := filepath.Join(t.TempDir(), "image.tar")
	if code, stderr := mkimage(t, "-bin", bin, "-version", "v1", "-epoch", "0", "-o", out); code != "ok" {
		t.Fatalf("mkimage: %s: %s", code, stderr)
	}
	files := untar(t, out)

	var docker []ociimage.DockerManifest
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	if diff := cmp.Diff([]string{"lxcfs-go:v1", "lxcfs-go:latest"}, docker[0].RepoTags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	var config ociimage.Config
	if err := json.Unmarshal(files[docker[0].Config], &config); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/usr/bin/lxcfs-go"}, config.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if config.OS != "linux" || config.Architecture == "" || config.Created != "1970-01-01T00:00:00Z" {
		t.Errorf("config: os %q arch %q created %q", config.OS, config.Architecture, config.Created)
	}

	var index ociimage.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range index.Manifests {
		names = append(names, m.Annotations[ociimage.AnnotationImageName])
	}
	if diff := cmp.Diff([]string{"docker.io/library/lxcfs-go:v1", "docker.io/library/lxcfs-go:latest"}, names); diff != "" {
		t.Errorf("index.json names (-want +got):\n%s", diff)
	}

	layer := map[string][]byte{}
	modes := map[string]int64{}
	tr := tar.NewReader(bytes.NewReader(files[docker[0].Layers[0]]))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		layer[h.Name], _ = io.ReadAll(tr)
		modes[h.Name] = h.Mode
	}
	want, _ := os.ReadFile(bin)
	if !bytes.Equal(layer["usr/bin/lxcfs-go"], want) || modes["usr/bin/lxcfs-go"] != 0o755 {
		t.Errorf("usr/bin/lxcfs-go: %d bytes mode %o, want the %d bytes of %s mode 755",
			len(layer["usr/bin/lxcfs-go"]), modes["usr/bin/lxcfs-go"], len(want), bin)
	}
	for _, dir := range []string{"run/", "tmp/", "var/lib/lxcfs/"} {
		if _, ok := layer[dir]; !ok {
			t.Errorf("no %s in the layer", dir)
		}
	}
}

func untar(t *testing.T, file string) map[string][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
}

func TestBadArguments(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no version":    {[]string{"-bin", bin, "-epoch", "1"}, "usage"},
		"no epoch":      {[]string{"-bin", bin, "-version", "v1", "-epoch", ""}, "usage"},
		"bad epoch":     {[]string{"-bin", bin, "-version", "v1", "-epoch", "yesterday"}, "usage"},
		"extra":         {[]string{"-bin", bin, "-version", "v1", "-epoch", "1", "x"}, "usage"},
		"no binary":     {[]string{"-bin", filepath.Join(dir, "none"), "-version", "v1", "-epoch", "1", "-o", filepath.Join(dir, "x.tar")}, "error"},
		"bad tag":       {[]string{"-bin", bin, "-version", "v1+dirty", "-epoch", "1", "-o", filepath.Join(dir, "x.tar")}, "error"},
		"no output dir": {[]string{"-bin", bin, "-version", "v1", "-epoch", "1", "-o", filepath.Join(dir, "none", "x.tar")}, "error"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", "")
			code, stderr := mkimage(t, tc.args...)
			if code != tc.want || !strings.HasPrefix(stderr, "mkimage: ") {
				t.Errorf("got %s %q, want %s with a message", code, stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.tar")); err == nil {
		t.Error("a failed build left its output")
	}
}

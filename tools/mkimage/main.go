// Command mkimage writes lxcfs-go's container image, offline and with no
// base image: one layer holding the static binary at /usr/bin/lxcfs-go and
// the empty directories a pod needs. `make image` runs it:
//
//	mkimage -bin bin/lxcfs-go -version v1.2 -epoch 1700000000 -o bin/lxcfs-go-image.tar
//
// The tar loads with `docker load`, `podman load` and `ctr images import`,
// tagged lxcfs-go:<version> and lxcfs-go:latest. It is byte-identical when
// built twice from the same commit: -epoch (SOURCE_DATE_EPOCH, the commit
// time) is its only clock. See internal/ociimage for the format.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/lxcfs-go/lxcfs-go/internal/ociimage"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// Config is what the image needs besides the binary.
type Config struct {
	Name    string // repository, e.g. "lxcfs-go"
	Version string
	Epoch   int64 // seconds since 1970: creation time and every mtime
	Arch    string
}

// Image is lxcfs-go's image around binary.
func Image(binary []byte, c Config) ociimage.Image {
	return ociimage.Image{
		Tags:    []string{c.Name + ":" + c.Version, c.Name + ":latest"},
		Created: time.Unix(c.Epoch, 0),
		OS:      "linux",
		Arch:    c.Arch,
		// The daemon, as lxcfs's images run it; the manifests name their
		// own command (deploy/kubernetes).
		Entrypoint: []string{"/usr/bin/lxcfs-go"},
		Cmd:        []string{"--foreground", "/var/lib/lxcfs"},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "lxcfs-go",
			"org.opencontainers.image.version": c.Version,
		},
		Files: []ociimage.File{{Path: "/usr/bin/lxcfs-go", Mode: 0o755, Data: binary}},
		// /run for the pid file and the fd holder's socket, /tmp for
		// anyone, /var/lib/lxcfs for the mount point; /dev, /proc and /sys
		// are mount points every runtime fills (and would create).
		Dirs: []ociimage.Dir{
			{Path: "/dev", Mode: 0o755},
			{Path: "/etc", Mode: 0o755},
			{Path: "/proc", Mode: 0o555},
			{Path: "/run", Mode: 0o755},
			{Path: "/sys", Mode: 0o555},
			{Path: "/tmp", Mode: 0o1777},
			{Path: "/var/lib/lxcfs", Mode: 0o755},
		},
	}
}

func run(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	flags.SetOutput(stderr)
	bin := flags.String("bin", "bin/lxcfs-go", "the static lxcfs-go `binary`")
	out := flags.String("o", "bin/lxcfs-go-image.tar", "output `file`")
	var c Config
	flags.StringVar(&c.Name, "name", "lxcfs-go", "image `repository` name")
	flags.StringVar(&c.Version, "version", "", "image `tag` besides latest (required)")
	flags.StringVar(&c.Arch, "arch", goarch(), "image `architecture` (GOARCH)")
	epoch := flags.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "creation time in `seconds` since 1970 (default $SOURCE_DATE_EPOCH)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 || c.Version == "" || *epoch == "" {
		fmt.Fprintln(stderr, "mkimage: want -version and -epoch (or SOURCE_DATE_EPOCH), and no arguments")
		return 2
	}
	var err error
	if c.Epoch, err = strconv.ParseInt(*epoch, 10, 64); err != nil || c.Epoch < 0 {
		fmt.Fprintf(stderr, "mkimage: -epoch %q is not a number of seconds since 1970\n", *epoch)
		return 2
	}
	if err := write(*bin, *out, c); err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	return 0
}

// goarch is the target architecture: GOARCH when cross-building, else ours.
func goarch() string {
	if a := os.Getenv("GOARCH"); a != "" {
		return a
	}
	return runtime.GOARCH
}

// write builds the image into a temporary file beside out and renames it,
// so that out is never half written.
func write(bin, out string, c Config) error {
	binary, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkimage-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := ociimage.Write(tmp, Image(binary, c)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// Package integration runs lxcfs-go against the real host: real FUSE
// mounts, real cgroups created for each test, readers moved into them and
// into new pid namespaces, and the reference lxcfs mounted side by side.
//
// Every test needs root and /dev/fuse and skips without them. The daemon
// is LXCFS_GO_BIN or is built from ./cmd/lxcfs-go (see testenv). The same
// tests run on this hybrid-cgroup machine and inside a pure cgroup-v2 VM,
// so cgroup files are only touched through testenv.
//
//	go test -race ./tests/integration/
package integration

import (
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Package e2e runs lxcfs-go the way users do: a real LXC container with the
// mount hook, real runc containers with config.json mounts, `docker -v`
// flags and the OCI hook, the systemd unit's commands, the webhook binary;
// plus shellcheck and systemd-analyze on the shipped files. The examples in
// docs/ are read from the pages themselves (see docBlock), so a page cannot
// drift from what is tested.
//
// The tests need root and /dev/fuse and skip without them. They install
// lxc, busybox-static, runc and shellcheck with apt-get when missing.
// Everything they create (daemons, containers, cgroups named
// lxcfs-go-test-*, temporary directories) is removed in t.Cleanup.
package e2e

import (
	"os"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/hooks/ocihook"
	"github.com/lxcfs-go/lxcfs-go/tests/testenv"
	"github.com/lxcfs-go/lxcfs-go/webhook"
)

// ociHookEnv makes this test binary run as the OCI hook (ocihook.Main) when
// a runtime executes it, for daemon binaries without an oci-hook command.
const ociHookEnv = "LXCFS_GO_E2E_OCI_HOOK"

// TestMain also serves the two stand-ins: the OCI hook and the webhook.
func TestMain(m *testing.M) {
	if os.Getenv(ociHookEnv) == "1" {
		os.Exit(ocihook.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv(webhookEnv) == "1" {
		os.Exit(webhook.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	testenv.Main(m)
}

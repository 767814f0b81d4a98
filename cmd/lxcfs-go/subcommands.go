package main

import (
	"fmt"
	"io"
	"os"

	"github.com/lxcfs-go/lxcfs-go/daemon"
	"github.com/lxcfs-go/lxcfs-go/hooks/ocihook"
	"github.com/lxcfs-go/lxcfs-go/webhook"
)

// subcommands run instead of the daemon when named first.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"webhook": webhook.Main,
	"oci-hook": func(args []string, stdout, stderr io.Writer) int {
		return ocihook.Main(args, os.Stdin, stdout, stderr)
	},
	"check": checkMain,
	// fd-holder is started by the daemon itself (docs/upgrade.md).
	daemon.HolderSubcommand: holderMain,
	"fd-keeper":             keeperMain,
	"remount":               remountMain,
	"show":                  showMain,
	// For a daemon in a Kubernetes pod (deploy/kubernetes/daemonset.yaml):
	// an image holding only lxcfs-go has no nsenter, umount or cat.
	"host-cgroupns": hostCgroupNSMain,
	"ready":         readyMain,
	"unmount":       unmountMain,
}

// nextValue takes the value of the option name of subcommand cmd from the
// argument after args[*i] ("--timeout 5s"), moving *i on; it says so on
// stderr and returns false when there is none.
func nextValue(cmd, name string, args []string, i *int, stderr io.Writer) (string, bool) {
	if *i+1 >= len(args) {
		fmt.Fprintf(stderr, "lxcfs-go %s: %s needs a value\n", cmd, name)
		return "", false
	}
	*i++
	return args[*i], true
}

package main

import (
	"fmt"
	"io"

	"github.com/lxcfs-go/lxcfs-go/upgrade"
)

// remountMain is "lxcfs-go remount [-n] [MOUNTPOINT]": bind mounts in any
// mount namespace (containers') of files of a dead lxcfs-go connection are
// replaced by binds of the same files below the live MOUNTPOINT
// (/var/lib/lxcfs by default).
func remountMain(args []string, stdout, stderr io.Writer) int {
	mnt := "/var/lib/lxcfs"
	pidfile := defaultPidfile
	dry, all := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-n", "--dry-run":
			dry = true
		case "--all":
			all = true
		case "-p", "--pidfile":
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "lxcfs-go remount: %s needs a value\n", a)
				return 2
			}
			i++
			pidfile = args[i]
		case "-h", "--help":
			fmt.Fprintf(stdout, "Usage: lxcfs-go remount [-n|--dry-run] [-p PIDFILE] [--all] [MOUNTPOINT]\n\n"+
				"Heals containers whose bind mounts of lxcfs-go files point at a dead\n"+
				"connection (Transport endpoint is not connected): enters each mount\n"+
				"namespace and binds the files of the live MOUNTPOINT (default\n"+
				"/var/lib/lxcfs) in their place. Only mounts of the connections the\n"+
				"daemon with PIDFILE (default /run/lxcfs-go.pid) made are touched, as\n"+
				"recorded in PIDFILE.mounts; --all takes any dead lxcfs-go mount.\n"+
				"-n only lists them.\n")
			return 0
		default:
			if len(a) > 0 && a[0] == '-' {
				fmt.Fprintf(stderr, "lxcfs-go remount: unknown option %s\n", a)
				return 2
			}
			mnt = a
		}
	}
	opts := upgrade.Options{DryRun: dry}
	if !all {
		devs, err := upgrade.ReadMountHistory(pidfile)
		if err != nil || len(devs) == 0 {
			fmt.Fprintf(stderr, "lxcfs-go remount: no mount history in %s (%v); use -p or --all\n",
				upgrade.MountHistory(pidfile), err)
			return 1
		}
		opts.Devs = devs
	}
	dead, err := upgrade.Remount(mnt, opts)
	for _, d := range dead {
		state := "healed"
		switch {
		case dry:
			state = "dead"
		case d.Gone:
			state = "gone (the process exited)"
		case d.Err != nil:
			state = "failed: " + d.Err.Error()
		}
		fmt.Fprintf(stdout, "pid %d mnt:[%d] %s (%s): %s\n", d.PID, d.NS, d.MountPoint, d.Root, state)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lxcfs-go remount: %v\n", err)
		return 1
	}
	if len(dead) == 0 {
		fmt.Fprintln(stdout, "no dead lxcfs-go mounts found")
	}
	return 0
}

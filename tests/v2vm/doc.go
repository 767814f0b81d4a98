// Package v2vm tests lxcfs-go on a pure cgroup v2 kernel, whatever the
// host's layout: TestV2VM boots a throwaway VM (qemu, TCG) with Debian's
// cloud kernel and an initramfs holding busybox, the static daemon, the
// guest program (tests/v2vm/guest, PID 1) and the integration tests built
// with go test -c, and turns what the guest prints on the serial console
// (tests/v2vm/wire) into subtests.
//
// The non-test files prepare the kernel (kernel.go: apt-get download,
// dpkg-deb -x, modules and their dependencies from .modinfo, cached by
// package version), write the initramfs (cpio.go: newc, uncompressed) and
// run qemu (vm.go). README.md says how to run and debug it.
package v2vm

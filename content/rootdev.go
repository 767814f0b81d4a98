package content

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// rootDisks are the diskstats lines that per-task I/O accounting is shown
// on (hostcgroup.TaskIO names no device): the block device of the file
// system that process pid sees as /, and for a partition its whole disk
// too, since the kernel counts a partition's I/O on both lines. For an
// overlay root (Docker, containerd, podman) it is the device of the upper
// layer, where the container's writes go, looked up in the daemon's mount
// namespace and then in that of the host's init (ProcFS/1/root), where
// runtimes mount it. Nil when the root
// is on no block device (tmpfs, a btrfs subvolume, NFS) or cannot be
// found: the container's counts are then on no line.
func (s *Source) rootDisks(pid int) []hostcgroup.Dev {
	var st unix.Stat_t
	if err := unix.Stat(s.opts.ProcFS+"/"+strconv.Itoa(pid)+"/root", &st); err != nil {
		return nil
	}
	if unix.Major(st.Dev) == 0 {
		upper := s.overlayUpper(pid)
		if upper == "" {
			return nil
		}
		// The path is in the mount namespace of whoever mounted the
		// overlay: the host's, which is the daemon's, or that of the
		// host's init when the daemon has one of its own (a pod).
		if unix.Stat(upper, &st) != nil || unix.Major(st.Dev) == 0 {
			if unix.Stat(s.opts.ProcFS+"/1/root"+upper, &st) != nil || unix.Major(st.Dev) == 0 {
				return nil
			}
		}
	}
	d := hostcgroup.Dev{Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev)}
	out := []hostcgroup.Dev{d}
	sys := s.opts.SysFS + "/dev/block/" + strconv.FormatUint(uint64(d.Major), 10) + ":" + strconv.FormatUint(uint64(d.Minor), 10)
	if _, err := os.Stat(sys + "/partition"); err == nil {
		if b, err := os.ReadFile(sys + "/../dev"); err == nil {
			if whole, ok := parseDevNumber(b); ok {
				out = append(out, whole)
			}
		}
	}
	return out
}

// overlayUpper is the upperdir of an overlay mounted at pid's /, "" if
// its / is not an overlay.
func (s *Source) overlayUpper(pid int) string {
	mounts, err := hostfs.ReadMountinfo(s.opts.ProcFS + "/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		return ""
	}
	upper := ""
	for _, m := range mounts {
		if m.MountPoint != "/" {
			continue
		}
		upper = "" // the last mount on / is the one seen
		if m.FSType != "overlay" {
			continue
		}
		for _, o := range m.SuperOptions {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok && strings.HasPrefix(v, "/") {
				upper = v
			}
		}
	}
	return upper
}

// parseDevNumber parses a sysfs dev file, "maj:min\n".
func parseDevNumber(b []byte) (hostcgroup.Dev, bool) {
	maj, min, ok := bytes.Cut(bytes.TrimSpace(b), []byte(":"))
	if !ok {
		return hostcgroup.Dev{}, false
	}
	a, err1 := strconv.ParseUint(string(maj), 10, 32)
	c, err2 := strconv.ParseUint(string(min), 10, 32)
	if err1 != nil || err2 != nil {
		return hostcgroup.Dev{}, false
	}
	return hostcgroup.Dev{Major: uint32(a), Minor: uint32(c)}, true
}

package proc

import (
	"bytes"
	"strconv"
	"strings"
)

// BlockStat appends a /sys/block/<dev>/stat file (and <dev>/<part>/stat)
// for the block device major:minor to dst: the fields of that device's line
// in diskstats (the container's /proc/diskstats, as Diskstats renders it),
// in the kernel's sysfs format (each field right-aligned in 8 columns,
// single spaces between, as block/genhd.c's part_stat_show prints them).
//
// The sysfs file has the same fields as a diskstats line after the name (11,
// 15 since Linux 4.18 with discards, 17 since 5.5 with flushes); it gets as
// many as host, the host's own stat file, has, so that readers that count
// fields (sysstat's iostat takes 11, 15 or 17) read it as the host's. A
// device without a line in diskstats (the kernel leaves empty partitions out
// of /proc/diskstats, and a device may come between the two reads) is all
// zeros: not the container's, or unknown, never the host's.
//
// sysstat's iostat reads these files, not /proc/diskstats, unless run
// with -p ALL; lxcfs-go serves them so that it shows what node_exporter
// (which reads /proc/diskstats) shows.
func BlockStat(dst, diskstats, host []byte, major, minor uint32) []byte {
	n := len(bytes.Fields(host))
	var vals [][]byte
	for rest := diskstats; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		f := bytes.Fields(line)
		if len(f) < 4 {
			continue
		}
		maj, err1 := strconv.ParseUint(string(f[0]), 10, 32)
		min, err2 := strconv.ParseUint(string(f[1]), 10, 32)
		if err1 != nil || err2 != nil || uint32(maj) != major || uint32(min) != minor {
			continue
		}
		vals = f[3:]
		break
	}
	if n == 0 {
		n = len(vals) // the host file did not parse: the line's count
	}
	for i := range n {
		if i > 0 {
			dst = append(dst, ' ')
		}
		v := []byte("0")
		if i < len(vals) {
			if _, err := strconv.ParseUint(string(vals[i]), 10, 64); err == nil {
				v = vals[i]
			}
		}
		for pad := 8 - len(v); pad > 0; pad-- {
			dst = append(dst, ' ')
		}
		dst = append(dst, v...)
	}
	return append(dst, '\n')
}

// ParseDevNumber parses a sysfs dev file ("254:0\n").
func ParseDevNumber(b []byte) (major, minor uint32, ok bool) {
	a, b2, found := strings.Cut(string(bytes.TrimSpace(b)), ":")
	if !found {
		return 0, 0, false
	}
	maj, err1 := strconv.ParseUint(a, 10, 32)
	min, err2 := strconv.ParseUint(b2, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint32(maj), uint32(min), true
}

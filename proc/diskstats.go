package proc

import (
	"slices"
	"strconv"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

// Diskstats appends the container's /proc/diskstats to dst, using the
// host's file as the template. With io nil (the host's root cgroup, no
// cgroup hierarchy for the reader) the host's file is returned.
//
// Every host device is listed, in host order, each line keeping the
// host's major, minor and name bytes (and so the kernel's column widths)
// and the host line's number of fields (17 on Linux 4.18-5.4, 20 since 5.5
// with the flush fields; 14 before), so that node_exporter keeps its
// node_disk_* series and iostat reads this file rather than the host's
// /sys/block/*/stat. Fields:
//
//	1 reads completed  = v1 blkio.throttle.io_serviced_recursive Read (or
//	                     blkio.bfq.*: see hostcgroup), v2 io.stat rios
//	3 sectors read     = (io_service_bytes_recursive Read | rbytes) / 512
//	5 writes completed = io_serviced Write | wios
//	7 sectors written  = (io_service_bytes Write | wbytes) / 512
//	12 discards        = io_serviced Discard | dios
//	14 sectors discarded = (io_service_bytes Discard | dbytes) / 512
//
// When the cgroup files count nothing, io.Tasks (per-task accounting,
// which names no device and counts no requests) gives sectors read and
// written on the lines of io.Tasks.Devices, with reads and writes
// completed 0. Every other field (merges, milliseconds, in flight,
// flushes) is 0, and so is every field of a device without counts: no
// cgroup file has them. A host line that does not parse is dropped.
//
// lxcfs reads the CFQ-era blkio.io_*_recursive files, missing since Linux
// 5.0, and so shows the host's file on current kernels and on every v2
// host.
func Diskstats(dst, host []byte, io *hostcgroup.IO) []byte {
	if io == nil {
		return append(dst, host...)
	}
	for rest := host; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		maj, i, ok := parseUint(line, skipBlanks(line, 0))
		if !ok {
			continue
		}
		min, j, ok := parseUint(line, skipBlanks(line, i))
		if !ok || maj > 1<<32-1 || min > 1<<32-1 {
			continue
		}
		nameStart := skipBlanks(line, j)
		nameEnd := nameStart
		for nameEnd < len(line) && !isBlank(line[nameEnd]) && line[nameEnd] != '\n' {
			nameEnd++
		}
		if nameEnd == nameStart {
			continue
		}
		dev := hostcgroup.Dev{Major: uint32(maj), Minor: uint32(min)}
		c := io.Devices[dev]
		if io.Tasks != nil && slices.Contains(io.Tasks.Devices, dev) {
			c = hostcgroup.IOCounters{ReadBytes: io.Tasks.ReadBytes, WriteBytes: io.Tasks.WriteBytes}
		}
		nfields := 0
		for k := nameEnd; ; {
			k = skipBlanks(line, k)
			if k >= len(line) || line[k] == '\n' {
				break
			}
			nfields++
			for k < len(line) && !isBlank(line[k]) && line[k] != '\n' {
				k++
			}
		}
		vals := [...]uint64{
			1: c.ReadIOs, 3: c.ReadBytes / 512,
			5: c.WriteIOs, 7: c.WriteBytes / 512,
			12: c.DiscardIOs, 14: c.DiscardBytes / 512,
			20: 0,
		}
		dst = append(dst, line[:nameEnd]...)
		for f := 1; f <= nfields; f++ {
			dst = append(dst, ' ')
			var v uint64
			if f < len(vals) {
				v = vals[f]
			}
			dst = strconv.AppendUint(dst, v, 10)
		}
		dst = append(dst, '\n')
	}
	return dst
}

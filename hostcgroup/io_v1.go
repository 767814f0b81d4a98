package hostcgroup

import (
	"bytes"
	"fmt"
	"strconv"
)

// ioV1 reads blkio.throttle.io_serviced_recursive and
// blkio.throttle.io_service_bytes_recursive, the CFQ-era blkio.io_* files
// that lxcfs reads being gone since Linux 5.0. The throttle layer counts
// every bio of the subtree whatever the I/O scheduler, but only on devices
// where throttling is active: since Linux 6.10 a queue's throttle data
// exists only once some cgroup has set a blkio.throttle.* rule on it
// (before, on every queue). For devices that the throttle files do not
// count, the BFQ scheduler's blkio.bfq.io_serviced_recursive and
// io_service_bytes_recursive (same format) are used where present.
func ioV1(d cgroupDir) (*IO, error) {
	io, err := readBlkio(d, "blkio.throttle.io_serviced_recursive", "blkio.throttle.io_service_bytes_recursive")
	if err != nil {
		return nil, err
	}
	bfq, err := readBlkio(d, "blkio.bfq.io_serviced_recursive", "blkio.bfq.io_service_bytes_recursive")
	if err != nil {
		return io, nil // no BFQ, or unreadable: the throttle counts alone
	}
	for dev, c := range bfq.Devices {
		if io.Devices[dev].Zero() {
			io.Devices[dev] = c
		}
	}
	return io, nil
}

// readBlkio reads a pair of v1 blkio files: serviced (I/O counts) and
// service_bytes.
func readBlkio(d cgroupDir, serviced, bytes string) (*IO, error) {
	io := &IO{Devices: map[Dev]IOCounters{}}
	for _, f := range []struct {
		name  string
		bytes bool
	}{{serviced, false}, {bytes, true}} {
		b, err := d.read(f.name)
		if err != nil {
			return nil, err
		}
		if err := ParseBlkioThrottle(b, f.bytes, io); err != nil {
			return nil, fmt.Errorf("%s: %w", d.file(f.name), err)
		}
	}
	return io, nil
}

// ParseBlkioThrottle adds a v1 blkio.throttle.io_serviced (bytes false) or
// io_service_bytes (bytes true) file to io: lines "<maj>:<min> <Op> <n>"
// with Op Read, Write, Sync, Async, Discard or Total, and a last line
// "Total <n>".
func ParseBlkioThrottle(b []byte, bytesFile bool, io *IO) error {
	if io.Devices == nil {
		io.Devices = map[Dev]IOCounters{}
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 || (len(f) == 2 && string(f[0]) == "Total") {
			continue
		}
		if len(f) != 3 {
			return fmt.Errorf("%w: line %q is not \"maj:min op value\"", ErrParse, truncate(line))
		}
		dev, err := parseDev(f[0])
		if err != nil {
			return err
		}
		n, err := parseUint(f[2])
		if err != nil {
			return err
		}
		c := io.Devices[dev]
		switch string(f[1]) {
		case "Read":
			if bytesFile {
				c.ReadBytes = n
			} else {
				c.ReadIOs = n
			}
		case "Write":
			if bytesFile {
				c.WriteBytes = n
			} else {
				c.WriteIOs = n
			}
		case "Discard":
			if bytesFile {
				c.DiscardBytes = n
			} else {
				c.DiscardIOs = n
			}
		default:
			continue
		}
		io.Devices[dev] = c
	}
	return nil
}

// parseDev parses "maj:min".
func parseDev(b []byte) (Dev, error) {
	maj, min, ok := bytes.Cut(b, []byte(":"))
	if !ok {
		return Dev{}, fmt.Errorf("%w: device %q is not maj:min", ErrParse, truncate(b))
	}
	a, err1 := strconv.ParseUint(string(maj), 10, 32)
	c, err2 := strconv.ParseUint(string(min), 10, 32)
	if err1 != nil || err2 != nil {
		return Dev{}, fmt.Errorf("%w: device %q is not maj:min", ErrParse, truncate(b))
	}
	return Dev{Major: uint32(a), Minor: uint32(c)}, nil
}

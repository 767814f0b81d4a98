package hostcgroup

import (
	"bytes"
	"fmt"
)

// ioV2 reads io.stat, present where the io controller is enabled (it is
// recursive: a cgroup's counts include its descendants').
func ioV2(d cgroupDir) (*IO, error) {
	b, err := d.read("io.stat")
	if err != nil {
		return nil, err
	}
	io, err := ParseIOStat(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.file("io.stat"), err)
	}
	return io, nil
}

// ParseIOStat parses v2 io.stat: "<maj>:<min> rbytes=N wbytes=N rios=N
// wios=N dbytes=N dios=N" per device; unknown keys (cost.*, latency) are
// skipped.
func ParseIOStat(b []byte) (*IO, error) {
	io := &IO{Devices: map[Dev]IOCounters{}}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		dev, err := parseDev(f[0])
		if err != nil {
			return nil, err
		}
		var c IOCounters
		for _, kv := range f[1:] {
			k, val, ok := bytes.Cut(kv, []byte("="))
			if !ok {
				continue
			}
			var dst *uint64
			switch string(k) {
			case "rbytes":
				dst = &c.ReadBytes
			case "wbytes":
				dst = &c.WriteBytes
			case "dbytes":
				dst = &c.DiscardBytes
			case "rios":
				dst = &c.ReadIOs
			case "wios":
				dst = &c.WriteIOs
			case "dios":
				dst = &c.DiscardIOs
			default:
				continue
			}
			n, err := parseUint(val)
			if err != nil {
				return nil, err
			}
			*dst = n
		}
		io.Devices[dev] = c
	}
	return io, nil
}

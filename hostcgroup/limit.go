package hostcgroup

import (
	"bytes"
	"fmt"
	"strconv"
)

// unlimitedFrom is the value from which a limit counts as "no limit". cgroup
// v1 shows an unset memory limit as PAGE_COUNTER_MAX*PAGE_SIZE
// (9223372036854771712 with 4 KiB pages, 9223372036854710272 with 64 KiB
// pages); any value of 4 EiB or more is as good as none.
const unlimitedFrom = 1 << 62

// ParseLimit parses a file holding one limit: a decimal number of bytes (or
// microseconds), "max" (v2) or "-1" (v1 cpu.cfs_quota_us), with surrounding
// white space ignored. "max", "-1" and numbers of 2^62 or more are NoLimit.
// An empty file, a negative number other than -1 or anything else is an
// error wrapping ErrParse.
func ParseLimit(b []byte) (Limit, error) {
	b = bytes.TrimSpace(b)
	switch string(b) {
	case "max", "-1":
		return NoLimit, nil
	}
	n, err := parseUint(b)
	if err != nil {
		return Limit{}, err
	}
	if n >= unlimitedFrom {
		return NoLimit, nil
	}
	return Bytes(n), nil
}

// parseUint parses one decimal number with surrounding white space.
func parseUint(b []byte) (uint64, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty value", ErrParse)
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: value %q is not an unsigned number", ErrParse, truncate(b))
	}
	return n, nil
}

// truncate shortens kernel text quoted in an error.
func truncate(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

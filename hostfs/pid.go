package hostfs

import (
	"bytes"
	"fmt"
	"strconv"
)

// ParseStatStartTicks returns field 22 (starttime) of /proc/<pid>/stat:
// clock ticks since boot when the process started. The fields are counted
// after the last ')', since the command name (field 2) may hold spaces and
// parentheses. It is the one field of stat the daemon reads, on every
// request, so it scans without allocating.
func ParseStatStartTicks(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no \")\"", ErrParse)
	}
	rest := b[i+1:]
	// rest is " S ppid ...": field 3 (state) is the first after ")".
	const want = 22 - 3
	for n := 0; ; n++ {
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return 0, fmt.Errorf("%w: stat has %d fields, want at least 22", ErrParse, n+2)
		}
		j := bytes.IndexAny(rest, " \n")
		if j < 0 {
			j = len(rest)
		}
		if n == want {
			v, err := strconv.ParseUint(string(bytes.TrimSpace(rest[:j])), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%w: starttime %.40q is not an unsigned number", ErrParse, rest[:j])
			}
			return v, nil
		}
		rest = rest[j:]
		if len(rest) > 0 && rest[0] == '\n' {
			rest = nil
		}
	}
}

// ParseStatusField returns the value of "key:" in /proc/<pid>/status text,
// with surrounding white space removed ("Tgid" gives "1234"; "NSpid" gives
// "30565\t1"). ok is false when the key is absent.
func ParseStatusField(b []byte, key string) (string, bool) {
	for len(b) > 0 {
		var line []byte
		line, b = CutLine(b)
		if len(line) > len(key) && line[len(key)] == ':' && string(line[:len(key)]) == key {
			return string(bytes.TrimSpace(line[len(key)+1:])), true
		}
	}
	return "", false
}

package cgroupview

import (
	"bytes"
	"fmt"
)

// parseFlatKeyed calls fn for every "key value" line of a flat-keyed cgroup
// file (memory.stat, cpu.stat). Blank lines are skipped; a line that is not
// exactly two fields is an error. An empty file is an error: every
// flat-keyed file the kernel writes has at least one key.
func parseFlatKeyed(b []byte, fn func(key, value []byte) error) error {
	lines := 0
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		key, value, ok := twoFields(line)
		if !ok {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			return fmt.Errorf("%w: line %q is not \"key value\"", ErrParse, truncate(line))
		}
		lines++
		if err := fn(key, value); err != nil {
			return fmt.Errorf("key %s: %w", key, err)
		}
	}
	if lines == 0 {
		return fmt.Errorf("%w: no keys", ErrParse)
	}
	return nil
}

// twoFields splits a line into exactly two space-separated fields.
func twoFields(line []byte) (a, b []byte, ok bool) {
	line = bytes.TrimSpace(line)
	i := bytes.IndexAny(line, " \t")
	if i < 0 {
		return nil, nil, false
	}
	a, b = line[:i], bytes.TrimLeft(line[i:], " \t")
	if bytes.ContainsAny(b, " \t") {
		return nil, nil, false
	}
	return a, b, true
}

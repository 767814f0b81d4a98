package hostcgroup

import (
	"bytes"
	"fmt"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// parseFlatKeyed calls fn for every "key value" line of a flat-keyed cgroup
// file (memory.stat, cpu.stat). Blank lines are skipped; a line that is not
// exactly two fields is an error. An empty file is an error: every
// flat-keyed file the kernel writes has at least one key.
func parseFlatKeyed(b []byte, fn func(key, value []byte) error) error {
	lines := 0
	for len(b) > 0 {
		var line []byte
		line, b = hostfs.CutLine(b)
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

// twoFields splits a line into exactly two space-separated fields. It scans
// by hand: it runs for every line of memory.stat on every read.
func twoFields(line []byte) (a, b []byte, ok bool) {
	line = bytes.TrimSpace(line)
	i := 0
	for i < len(line) && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	if i == len(line) {
		return nil, nil, false
	}
	j := i
	for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
		j++
	}
	for _, c := range line[j:] {
		if c == ' ' || c == '\t' {
			return nil, nil, false
		}
	}
	return line[:i], line[j:], true
}

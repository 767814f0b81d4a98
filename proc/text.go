package proc

import (
	"bytes"
	"strconv"
)

// This file holds the byte-level helpers the renderers share. None of them
// allocates: they work on sub-slices of the host file and append to dst.

// nextLine splits b after its first '\n'. The line keeps its '\n'; the last
// line of a file that does not end in one is returned as it is.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

// trimEOL drops a trailing '\n'.
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		return line[:n-1]
	}
	return line
}

// firstLine is the first line of b without its '\n'.
func firstLine(b []byte) []byte {
	line, _ := nextLine(b)
	return trimEOL(line)
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipBlanks returns the index of the first byte at or after i that is not a
// space or a tab.
func skipBlanks(b []byte, i int) int {
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	return i
}

// parseUint parses the decimal digits of b starting at i. ok is false when
// there is no digit there or the number does not fit in 64 bits; end is the
// index after the last digit.
func parseUint(b []byte, i int) (v uint64, end int, ok bool) {
	start := i
	for i < len(b) && isDigit(b[i]) {
		d := uint64(b[i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, i, false
		}
		v = v*10 + d
		i++
	}
	return v, i, i > start
}

// satAdd adds without wrapping: kernel and cgroup counters are far from 2^64,
// but a garbage host file must not make a sum smaller than its parts.
func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<64 - 1
}

// satSub subtracts, flooring at 0.
func satSub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// appendUintPadded appends v right-justified in width columns, as printf's
// "%*d" does: a wider number is not truncated.
func appendUintPadded(dst []byte, v uint64, width int) []byte {
	var buf [20]byte
	s := strconv.AppendUint(buf[:0], v, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, ' ')
	}
	return append(dst, s...)
}

// appendSpaces appends n spaces.
func appendSpaces(dst []byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, ' ')
	}
	return dst
}

// containsCPU reports whether the ascending list cpus holds n, and at which
// index.
func containsCPU(cpus []int, n int) (int, bool) {
	lo, hi := 0, len(cpus)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cpus[m] < n {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(cpus) && cpus[lo] == n
}

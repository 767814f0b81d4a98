package hostcgroup

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// maxCPUs bounds the CPU numbers a cpuset list may name, so that a garbage
// value such as "0-4294967295" cannot make us allocate gigabytes. The kernel's
// NR_CPUS tops out at 8192 on every architecture Debian builds.
const maxCPUs = 1 << 16

// CPUSet is a set of CPU numbers, as in cpuset.cpus or
// /sys/devices/system/cpu/online. The zero value is the empty set.
type CPUSet struct {
	words []uint64
}

// ParseCPUSet parses the kernel's list format: comma-separated numbers and
// inclusive ranges ("0-2,4,7-8"), with surrounding white space ignored. The
// empty string is the empty set.
func ParseCPUSet(s string) (CPUSet, error) {
	var set CPUSet
	s = strings.TrimSpace(s)
	if s == "" {
		return set, nil
	}
	for _, tok := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(tok, "-")
		a, err := parseCPU(lo)
		if err != nil {
			return CPUSet{}, fmt.Errorf("%w: cpu list %q: %v", ErrParse, s, err)
		}
		b := a
		if isRange {
			if b, err = parseCPU(hi); err != nil {
				return CPUSet{}, fmt.Errorf("%w: cpu list %q: %v", ErrParse, s, err)
			}
			if b < a {
				return CPUSet{}, fmt.Errorf("%w: cpu list %q: range %d-%d is reversed", ErrParse, s, a, b)
			}
		}
		for n := a; n <= b; n++ {
			set.Add(n)
		}
	}
	return set, nil
}

func parseCPU(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("bad cpu number %q", s)
	}
	if n < 0 || n >= maxCPUs {
		return 0, fmt.Errorf("cpu number %d out of range", n)
	}
	return n, nil
}

// Add puts CPU n into the set. Numbers outside [0, 65536) are ignored.
func (s *CPUSet) Add(n int) {
	if n < 0 || n >= maxCPUs {
		return
	}
	w := n / 64
	for len(s.words) <= w {
		s.words = append(s.words, 0)
	}
	s.words[w] |= 1 << (n % 64)
}

// Contains reports whether CPU n is in the set.
func (s CPUSet) Contains(n int) bool {
	if n < 0 || n/64 >= len(s.words) {
		return false
	}
	return s.words[n/64]&(1<<(n%64)) != 0
}

// Count is the number of CPUs in the set.
func (s CPUSet) Count() int {
	c := 0
	for _, w := range s.words {
		c += bits.OnesCount64(w)
	}
	return c
}

// IsEmpty reports whether the set has no CPU.
func (s CPUSet) IsEmpty() bool { return s.Count() == 0 }

// CPUs lists the members in ascending order.
func (s CPUSet) CPUs() []int {
	out := make([]int, 0, s.Count())
	for i, w := range s.words {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, i*64+b)
			w &^= 1 << b
		}
	}
	return out
}

// Intersect returns the CPUs in both sets.
func (s CPUSet) Intersect(o CPUSet) CPUSet {
	n := min(len(s.words), len(o.words))
	r := CPUSet{words: make([]uint64, n)}
	for i := range n {
		r.words[i] = s.words[i] & o.words[i]
	}
	return r
}

// Equal reports whether both sets have the same members.
func (s CPUSet) Equal(o CPUSet) bool {
	n := max(len(s.words), len(o.words))
	for i := range n {
		var a, b uint64
		if i < len(s.words) {
			a = s.words[i]
		}
		if i < len(o.words) {
			b = o.words[i]
		}
		if a != b {
			return false
		}
	}
	return true
}

// String formats the set in the kernel's list format, with ranges for runs of
// two or more ("0-2,4"), as /sys/devices/system/cpu/online shows it.
func (s CPUSet) String() string {
	return string(s.AppendTo(nil))
}

// AppendTo appends the list format of the set to dst.
func (s CPUSet) AppendTo(dst []byte) []byte {
	return AppendCPUList(dst, s.CPUs())
}

// AppendCPUList appends ascending CPU numbers in the kernel's list format
// ("0-2,4"), without building a set.
func AppendCPUList(dst []byte, cpus []int) []byte {
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(cpus[i]), 10)
		if j > i {
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, int64(cpus[j]), 10)
		}
		i = j + 1
	}
	return dst
}

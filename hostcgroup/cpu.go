package hostcgroup

import (
	"errors"
	"fmt"
	"io/fs"
)

// errCgroupGone is returned by walks whose own cgroup directory is missing,
// so that a removed cgroup never gets its ancestors' values.
var errCgroupGone = errors.New("cgroup directory is gone")

// gone checks, when a walk found none of its files at its own cgroup,
// whether the cgroup still exists.
func gone(d cgroupDir) error {
	if d.exists() {
		return nil
	}
	return fmt.Errorf("%s: %w", d.file(""), errCgroupGone)
}

// walkCPUSet returns the first non-empty CPU list found from d upwards; at
// each level files are tried in order and missing or empty ones skipped.
// At the root with nothing found it returns the empty set.
func walkCPUSet(d cgroupDir, files ...string) (CPUSet, error) {
	for leaf := true; ; leaf = false {
		found := false
		for _, f := range files {
			name := d.file(f)
			b, err := d.host.ReadFile(name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return CPUSet{}, err
			}
			found = true
			set, err := ParseCPUSet(string(b))
			if err != nil {
				return CPUSet{}, fmt.Errorf("%s: %w", name, err)
			}
			if !set.IsEmpty() {
				return set, nil
			}
		}
		if leaf && !found {
			if err := gone(d); err != nil {
				return CPUSet{}, err
			}
		}
		var ok bool
		if d, ok = d.parent(); !ok {
			return CPUSet{}, nil
		}
	}
}

// walkQuota returns the minimum of quota/period, in CPUs, over d and its
// ancestors; 0 when none has a quota. read returns the quota and period of
// one cgroup, or an error wrapping fs.ErrNotExist when it has none (the
// controller is not enabled there, or it is the v2 root).
func walkQuota(d cgroupDir, read func(cgroupDir) (quota Limit, periodMicros uint64, err error)) (float64, error) {
	best := 0.0
	for leaf := true; ; leaf = false {
		quota, period, err := read(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if leaf {
				if err := gone(d); err != nil {
					return 0, err
				}
			}
		case err != nil:
			return 0, err
		case !quota.Unlimited && period > 0:
			if q := float64(quota.Value) / float64(period); best == 0 || q < best {
				best = q
			}
		}
		var ok bool
		if d, ok = d.parent(); !ok {
			return best, nil
		}
	}
}

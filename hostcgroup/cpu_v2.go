package hostcgroup

import (
	"bytes"
	"fmt"
	"math"
)

// cpusetV2 is cpuset.cpus.effective of d, or of the nearest ancestor that
// has a non-empty one (the file is missing where the cpuset controller is
// not enabled).
func cpusetV2(d cgroupDir) (CPUSet, error) {
	return walkCPUSet(d, "cpuset.cpus.effective")
}

// quotaV2 is the minimum of cpu.max quota/period over d and its ancestors.
// The root cgroup has no cpu.max.
func quotaV2(d cgroupDir) (float64, error) {
	return walkQuota(d, func(d cgroupDir) (Limit, uint64, error) {
		name := d.file("cpu.max")
		b, err := d.host.ReadFile(name)
		if err != nil {
			return Limit{}, 0, err
		}
		quota, period, err := ParseCPUMax(b)
		if err != nil {
			return Limit{}, 0, fmt.Errorf("%s: %w", name, err)
		}
		return quota, period, nil
	})
}

// usageV2 reads cpu.stat, which every cgroup2 cgroup has (including the
// root) on Linux 4.15 and later.
func usageV2(d cgroupDir) (*CPUUsage, error) {
	name := d.file("cpu.stat")
	b, err := d.host.ReadFile(name)
	if err != nil {
		return nil, err
	}
	u, err := ParseCPUStat(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return u, nil
}

// ParseCPUMax parses cgroup2 cpu.max: "$MAX $PERIOD" in microseconds, where
// $MAX is "max" for no quota ("max 100000"). A missing period means the
// kernel default of 100000. A zero period is an error wrapping ErrParse.
func ParseCPUMax(b []byte) (quota Limit, periodMicros uint64, err error) {
	f := bytes.Fields(b)
	if len(f) < 1 || len(f) > 2 {
		return Limit{}, 0, fmt.Errorf("%w: cpu.max %q is not \"quota period\"", ErrParse, truncate(b))
	}
	if string(f[0]) == "max" {
		quota = NoLimit
	} else {
		q, err := parseUint(f[0])
		if err != nil {
			return Limit{}, 0, err
		}
		quota = Limit{Value: q}
	}
	periodMicros = 100000
	if len(f) == 2 {
		if periodMicros, err = parseUint(f[1]); err != nil {
			return Limit{}, 0, err
		}
	}
	if periodMicros == 0 {
		return Limit{}, 0, fmt.Errorf("%w: cpu.max period is 0", ErrParse)
	}
	return quota, periodMicros, nil
}

// ParseCPUStat parses cgroup2 cpu.stat into totals (user_usec and
// system_usec, in nanoseconds). PerCPU is nil: cgroup2 does not account
// CPU time per CPU. Both keys must be present.
func ParseCPUStat(b []byte) (*CPUUsage, error) {
	u := &CPUUsage{}
	var hasUser, hasSystem bool
	err := parseFlatKeyed(b, func(key, value []byte) error {
		var p *uint64
		switch string(key) {
		case "user_usec":
			p, hasUser = &u.UserNanos, true
		case "system_usec":
			p, hasSystem = &u.SystemNanos, true
		default:
			return nil
		}
		n, err := parseUint(value)
		if err != nil {
			return err
		}
		if n > math.MaxUint64/1000 {
			return fmt.Errorf("%w: %d µs overflows nanoseconds", ErrParse, n)
		}
		*p = n * 1000
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !hasUser || !hasSystem {
		return nil, fmt.Errorf("%w: cpu.stat lacks user_usec or system_usec", ErrParse)
	}
	return u, nil
}

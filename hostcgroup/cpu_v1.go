package hostcgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	"github.com/lxcfs-go/lxcfs-go/hostfs"
)

// cpusetV1 is the effective CPU set of a v1 cpuset cgroup:
// cpuset.effective_cpus, else cpuset.cpus, walking to the parent while both
// are empty.
func cpusetV1(d cgroupDir) (CPUSet, error) {
	return walkCPUSet(d, "cpuset.effective_cpus", "cpuset.cpus")
}

// quotaV1 is the minimum of cpu.cfs_quota_us / cpu.cfs_period_us over d and
// its ancestors; a quota of -1 is none.
func quotaV1(d cgroupDir) (float64, error) {
	return walkQuota(d, func(d cgroupDir) (Limit, uint64, error) {
		quota, err := d.readLimit("cpu.cfs_quota_us")
		if err != nil || quota.Unlimited {
			return quota, 0, err
		}
		period, err := d.readUint("cpu.cfs_period_us")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w: cpu.cfs_quota_us without cpu.cfs_period_us", ErrParse)
			}
			return Limit{}, 0, err
		}
		if period == 0 {
			return Limit{}, 0, fmt.Errorf("%w: %s is 0", ErrParse, d.file("cpu.cfs_period_us"))
		}
		return quota, period, nil
	})
}

// usageV1 reads cpuacct.usage_all, or cpuacct.usage_percpu on old kernels
// that lack usage_all.
func usageV1(d cgroupDir) (*CPUUsage, error) {
	name := d.file("cpuacct.usage_all")
	b, err := d.host.ReadFile(name)
	parse := ParseCPUAcctUsageAll
	if errors.Is(err, fs.ErrNotExist) {
		name = d.file("cpuacct.usage_percpu")
		b, err = d.host.ReadFile(name)
		parse = ParseCPUAcctUsagePercpu
	}
	if err != nil {
		return nil, err
	}
	u, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return u, nil
}

// ParseCPUAcctUsageAll parses v1 cpuacct.usage_all: a header "cpu user
// system", then "<cpu> <user_ns> <system_ns>" per possible CPU. PerCPU is
// indexed by CPU number (gaps are zero); the totals are the sums.
func ParseCPUAcctUsageAll(b []byte) (*CPUUsage, error) {
	u := &CPUUsage{}
	header := false
	for len(b) > 0 {
		var line []byte
		line, b = hostfs.CutLine(b)
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !header {
			if len(f) != 3 || string(f[0]) != "cpu" || string(f[1]) != "user" || string(f[2]) != "system" {
				return nil, fmt.Errorf("%w: header %q is not \"cpu user system\"", ErrParse, truncate(line))
			}
			header = true
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %q is not \"cpu user system\"", ErrParse, truncate(line))
		}
		cpu, err := parseUint(f[0])
		if err != nil {
			return nil, err
		}
		if cpu >= maxCPUs {
			return nil, fmt.Errorf("%w: cpu number %d out of range", ErrParse, cpu)
		}
		user, err := parseUint(f[1])
		if err != nil {
			return nil, err
		}
		system, err := parseUint(f[2])
		if err != nil {
			return nil, err
		}
		for len(u.PerCPU) <= int(cpu) {
			u.PerCPU = append(u.PerCPU, CPUTime{})
		}
		u.PerCPU[cpu] = CPUTime{UserNanos: user, SystemNanos: system}
	}
	if len(u.PerCPU) == 0 {
		return nil, fmt.Errorf("%w: no cpu lines", ErrParse)
	}
	for _, t := range u.PerCPU {
		u.UserNanos += t.UserNanos
		u.SystemNanos += t.SystemNanos
	}
	return u, nil
}

// ParseCPUAcctUsagePercpu parses v1 cpuacct.usage_percpu: one total per
// possible CPU, space-separated. It cannot tell user from system time, so
// each total goes into UserNanos and SystemNanos stays 0 (lxcfs copies it
// into both and so counts it twice).
func ParseCPUAcctUsagePercpu(b []byte) (*CPUUsage, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return nil, fmt.Errorf("%w: no cpu values", ErrParse)
	}
	if len(f) > maxCPUs {
		return nil, fmt.Errorf("%w: %d cpu values", ErrParse, len(f))
	}
	u := &CPUUsage{PerCPU: make([]CPUTime, len(f))}
	for i, s := range f {
		n, err := parseUint(s)
		if err != nil {
			return nil, err
		}
		u.PerCPU[i].UserNanos = n
		u.UserNanos += n
	}
	return u, nil
}

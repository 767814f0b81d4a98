package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
)

const (
	cgRoot = "/sys/fs/cgroup"
	// cgBase is where every test cgroup lives.
	cgBase = "lxcfs-v2vm"
	// controllers enabled down to every test cgroup.
	controllers = "+cpuset +cpu +io +memory +pids"
)

// cgPath is the absolute directory of a cgroup given relative to the root.
func cgPath(rel string) string { return path.Join(cgRoot, rel) }

// mkcg creates the cgroup rel (and its parents), enabling the controllers
// in each parent's subtree_control, then writes the file=value pairs in
// order.
func mkcg(rel string, kv ...string) error {
	if len(kv)%2 != 0 {
		return fmt.Errorf("mkcg %s: odd settings", rel)
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		parent := cgPath(strings.Join(parts[:i], "/"))
		if err := writeFile(path.Join(parent, "cgroup.subtree_control"), controllers); err != nil {
			return err
		}
		dir := cgPath(strings.Join(parts[:i+1], "/"))
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	for i := 0; i < len(kv); i += 2 {
		if err := writeFile(path.Join(cgPath(rel), kv[i]), kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p, v string) error {
	if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
		return fmt.Errorf("write %q to %s: %w", v, p, err)
	}
	return nil
}

func readTrim(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

// cgRead reads a cgroup file, trimmed.
func cgRead(rel, file string) (string, error) { return readTrim(path.Join(cgPath(rel), file)) }

// limit is a cgroup value that may be "max".
type limit struct {
	value     uint64
	unlimited bool
}

// minLimit is the minimum of file over rel and its ancestors (the root has
// none of these files), as the daemon must compute it. detail lists the
// values it came from.
func minLimit(rel, file string) (limit, string, error) {
	l := limit{unlimited: true}
	var detail []string
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		v, err := cgRead(p, file)
		if err != nil {
			return limit{}, "", err
		}
		detail = append(detail, fmt.Sprintf("%s/%s=%s", p, file, v))
		if v == "max" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return limit{}, "", fmt.Errorf("%s/%s: %w", p, file, err)
		}
		if l.unlimited || n < l.value {
			l = limit{value: n}
		}
	}
	return l, strings.Join(detail, " "), nil
}

// minQuota is the minimum quota/period of cpu.max over rel and its
// ancestors; 0 when none is set.
func minQuota(rel string) (float64, string, error) {
	best := math.Inf(1)
	var detail []string
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		v, err := cgRead(p, "cpu.max")
		if err != nil {
			return 0, "", err
		}
		detail = append(detail, fmt.Sprintf("%s/cpu.max=%q", p, v))
		f := strings.Fields(v)
		if len(f) != 2 || f[0] == "max" {
			continue
		}
		q, err1 := strconv.ParseFloat(f[0], 64)
		per, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil || per <= 0 {
			continue
		}
		best = math.Min(best, q/per)
	}
	if math.IsInf(best, 1) {
		best = 0
	}
	return best, strings.Join(detail, " "), nil
}

// parseCPUList parses "0-2,5" into sorted CPU numbers.
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", s, err)
			}
		}
		for i := a; i <= b; i++ {
			cpus = append(cpus, i)
		}
	}
	sort.Ints(cpus)
	return cpus, nil
}

// flatKeyed parses "key value" lines (memory.stat, cpu.stat).
func flatKeyed(s string) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			m[f[0]] = n
		}
	}
	return m
}

// ioStat returns the io.stat entry of device majmin ("252:0") as a map
// (rbytes, wbytes, rios, wios, dbytes, dios); nil when there is none.
func ioStat(s, majmin string) map[string]uint64 {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != majmin {
			continue
		}
		m := map[string]uint64{}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				m[k] = n
			}
		}
		return m
	}
	return nil
}

// psi is one line of a pressure file.
type psi struct {
	avg10, avg60, avg300 float64
	total                uint64
}

// parsePressure parses "some avg10=0.00 avg60=0.00 avg300=0.00 total=0"
// lines by kind ("some", "full").
func parsePressure(s string) (map[string]psi, error) {
	out := map[string]psi{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 {
			return nil, fmt.Errorf("pressure line %q: want 5 fields", line)
		}
		var p psi
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("pressure line %q: bad field %q", line, kv)
			}
			var err error
			switch k {
			case "avg10":
				p.avg10, err = strconv.ParseFloat(v, 64)
			case "avg60":
				p.avg60, err = strconv.ParseFloat(v, 64)
			case "avg300":
				p.avg300, err = strconv.ParseFloat(v, 64)
			case "total":
				p.total, err = strconv.ParseUint(v, 10, 64)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return nil, fmt.Errorf("pressure line %q: %w", line, err)
			}
		}
		out[f[0]] = p
	}
	return out, nil
}

// meminfo is /proc/meminfo as ordered keys and kB values.
type meminfo struct {
	keys []string
	kB   map[string]uint64
}

func parseMeminfo(s string) (meminfo, error) {
	m := meminfo{kB: map[string]uint64{}}
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		k, rest, ok := strings.Cut(line, ":")
		if !ok {
			return meminfo{}, fmt.Errorf("meminfo line %q: no colon", line)
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return meminfo{}, fmt.Errorf("meminfo line %q: no value", line)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return meminfo{}, fmt.Errorf("meminfo line %q: %w", line, err)
		}
		m.keys = append(m.keys, k)
		m.kB[k] = n
	}
	return m, nil
}

func hostMeminfo() (meminfo, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return meminfo{}, err
	}
	return parseMeminfo(string(b))
}

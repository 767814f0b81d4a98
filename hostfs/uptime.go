package hostfs

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// Uptime is /proc/uptime: seconds since boot, and the sum of the CPUs'
// idle seconds.
type Uptime struct {
	Seconds     float64
	IdleSeconds float64
}

// ParseUptime parses /proc/uptime ("350735.47 234388.90\n"). The idle
// field may be missing; the uptime may not. Neither may be negative, NaN
// or infinite.
func ParseUptime(b []byte) (Uptime, error) {
	line, _ := CutLine(b)
	f := bytes.Fields(line)
	if len(f) == 0 || len(f) > 2 {
		return Uptime{}, fmt.Errorf("%w: uptime %.40q is not \"seconds idle\"", ErrParse, line)
	}
	var u Uptime
	var err error
	if u.Seconds, err = parseSeconds(f[0]); err != nil {
		return Uptime{}, err
	}
	if len(f) == 2 {
		if u.IdleSeconds, err = parseSeconds(f[1]); err != nil {
			return Uptime{}, err
		}
	}
	return u, nil
}

func parseSeconds(b []byte) (float64, error) {
	x, err := strconv.ParseFloat(string(b), 64)
	if err != nil || x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%w: %.40q is not a number of seconds", ErrParse, b)
	}
	return x, nil
}

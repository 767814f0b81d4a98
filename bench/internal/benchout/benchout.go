// Package benchout writes a benchmark's JSON report under the module root
// (bench/out/ by default), wherever the benchmark binary runs from.
package benchout

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// Write writes v as indented JSON to out; a relative out is taken from the
// module root (the directory of go.mod above the working directory). It
// returns the path written.
func Write(out string, v any) (string, error) {
	if !filepath.IsAbs(out) {
		out = filepath.Join(moduleRoot(), out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return out, err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return out, err
	}
	return out, os.WriteFile(out, append(b, '\n'), 0o644)
}

// moduleRoot is the directory of go.mod above the working directory, or
// the working directory if there is none.
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

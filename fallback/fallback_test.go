package fallback

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestLabels pins the label of every reason: dashboards and alerts select
// lxcfs_go_fallbacks_total by them, so a renamed constant must not change
// one, and no two reasons may share one.
func TestLabels(t *testing.T) {
	t.Parallel()
	want := []string{
		"no_container", "pressure", "loadavg", "io", "memory", "swap", "swappiness",
		"cpuset", "cpu_quota", "cpu_usage", "slabinfo", "outside_hierarchy",
		"cgroup_removed", "time_namespace",
	}
	rs := Reasons()
	if len(rs) != len(want) {
		t.Fatalf("%d reasons, want %d", len(rs), len(want))
	}
	seen := map[string]Reason{}
	for i, r := range rs {
		if int(r) != i {
			t.Errorf("Reasons()[%d] = %d", i, r)
		}
		l := r.String()
		if l != want[i] {
			t.Errorf("Reason(%d).String() = %q, want %q", i, l, want[i])
		}
		if prev, dup := seen[l]; dup {
			t.Errorf("reasons %d and %d share the label %q", prev, r, l)
		}
		seen[l] = r
	}
	if got := Reason(200).String(); got != "reason_200" {
		t.Errorf("Reason(200) = %q", got)
	}
}

// counting counts the records that reach it, at level.
type counting struct {
	level   slog.Level
	handled int
}

func (c *counting) Enabled(_ context.Context, l slog.Level) bool { return l >= c.level }
func (c *counting) Handle(context.Context, slog.Record) error    { c.handled++; return nil }
func (c *counting) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *counting) WithGroup(string) slog.Handler                { return c }

func TestReport(t *testing.T) {
	t.Parallel()
	var got []Reason
	on := func(r Reason) { got = append(got, r) }
	info, debug := &counting{level: slog.LevelInfo}, &counting{level: slog.LevelDebug}
	for _, c := range []struct {
		name string
		p    Reporter
		want bool
	}{
		{"zero", Reporter{}, false},
		{"info", Reporter{Log: slog.New(info), On: on}, false},
		{"debug", Reporter{Log: slog.New(debug), On: on}, true},
	} {
		if logIt := c.p.Report(Swap); logIt != c.want {
			t.Errorf("%s: Report = %v, want %v", c.name, logIt, c.want)
		}
	}
	if len(got) != 2 || got[0] != Swap || got[1] != Swap {
		t.Errorf("On saw %v, want [swap swap]", got)
	}
}

// TestGuardBuildsNothing: with debug off, a guarded fallback builds no
// record and allocates nothing (the unguarded call boxes its attributes
// whatever the level).
func TestGuardBuildsNothing(t *testing.T) {
	h := &counting{level: slog.LevelInfo}
	n := 0
	p := Reporter{Log: slog.New(h), On: func(Reason) { n++ }}
	path, err := strings.Repeat("/a", 3), errors.New("garbage")
	allocs := testing.AllocsPerRun(100, func() {
		if p.Report(Memory) {
			p.Log.Debug("memory of cgroup unavailable", "path", path, "err", err)
		}
	})
	if allocs != 0 || h.handled != 0 || n == 0 {
		t.Errorf("debug off: %v allocs, %d records, %d reports; want 0, 0, > 0", allocs, h.handled, n)
	}
	var buf bytes.Buffer
	p.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if p.Report(Memory) {
		p.Log.Debug("memory of cgroup unavailable", "path", path, "err", err)
	}
	if !strings.Contains(buf.String(), `msg="memory of cgroup unavailable" path=/a/a/a err=garbage`) {
		t.Errorf("debug on: logged %q", buf.String())
	}
}

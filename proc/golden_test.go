package proc

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lxcfs-go/lxcfs-go/hostcgroup"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden/*/want")

// A golden scenario is a directory testdata/golden/<name>/ holding
//
//	scenario.json  the cgroup values (hostcgroup types) and options
//	host/          a fixture root: host/proc/{meminfo,cpuinfo,stat,uptime,swaps,slabinfo}
//	               and host/sys/devices/system/cpu/online, as the host shows them
//	want/          the same paths as the container must see them
//
// Each renderer runs when its host file exists. go test -update rewrites want/.
type scenario struct {
	Comment        string               `json:"comment"`
	Host           string               `json:"host"` // which host the files in host/ come from
	Options        Options              `json:"options"`
	Memory         json.RawMessage      `json:"memory"`
	CPU            *scenarioCPU         `json:"cpu"`
	Usage          *hostcgroup.CPUUsage `json:"usage"`
	ClockTicks     uint64               `json:"clock_ticks"`
	InitStartTicks uint64               `json:"init_start_ticks"`
	Slabinfo       *string              `json:"slabinfo"`
}

type scenarioCPU struct {
	CPUs      string  `json:"cpus"`
	QuotaCPUs float64 `json:"quota_cpus"`
}

// loadScenario reads scenario.json strictly, so that a misspelt field fails
// the test rather than silently meaning zero.
func loadScenario(t *testing.T, dir string) (sc scenario, mem *hostcgroup.Memory, cpu *hostcgroup.CPU) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "scenario.json"))
	if err != nil {
		t.Fatal(err)
	}
	strict := func(raw []byte, v any) {
		t.Helper()
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
	}
	strict(b, &sc)
	if len(sc.Memory) > 0 {
		// Swappiness is -1 ("unknown") unless the scenario says otherwise:
		// 0 would mean "never swap".
		mem = &hostcgroup.Memory{Swappiness: -1}
		strict(sc.Memory, mem)
	}
	if sc.CPU != nil {
		set, err := hostcgroup.ParseCPUSet(sc.CPU.CPUs)
		if err != nil {
			t.Fatal(err)
		}
		cpu = &hostcgroup.CPU{CPUs: set, QuotaCPUs: sc.CPU.QuotaCPUs}
	}
	return sc, mem, cpu
}

// readHost returns a host file of the scenario, or nil when it has none.
func readHost(t *testing.T, dir, rel string) ([]byte, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "host", rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

// hostOnline parses the scenario's online file; like the daemon, an absent
// or unusable one means CPU 0 alone.
func hostOnline(t *testing.T, dir string) hostcgroup.CPUSet {
	t.Helper()
	if b, ok := readHost(t, dir, onlinePath); ok {
		if set, err := hostcgroup.ParseCPUSet(string(b)); err == nil && !set.IsEmpty() {
			return set
		}
	}
	var set hostcgroup.CPUSet
	set.Add(0)
	return set
}

const onlinePath = "sys/devices/system/cpu/online"

// renderScenario renders every file of a scenario whose host file exists,
// keyed by path below the fixture root.
func renderScenario(t *testing.T, dir string, render func(f func(dst []byte) []byte) []byte) map[string][]byte {
	t.Helper()
	sc, mem, cpu := loadScenario(t, dir)
	view := NewCPUView(cpu, hostOnline(t, dir), sc.Options)
	out := map[string][]byte{}
	if host, ok := readHost(t, dir, "proc/meminfo"); ok {
		out["proc/meminfo"] = render(func(dst []byte) []byte { return Meminfo(dst, host, mem, sc.Options) })
	}
	if host, ok := readHost(t, dir, "proc/swaps"); ok {
		meminfo, _ := readHost(t, dir, "proc/meminfo")
		out["proc/swaps"] = render(func(dst []byte) []byte { return Swaps(dst, host, meminfo, mem, sc.Options) })
	}
	if host, ok := readHost(t, dir, "proc/cpuinfo"); ok {
		out["proc/cpuinfo"] = render(func(dst []byte) []byte { return CPUInfo(dst, host, view) })
	}
	if host, ok := readHost(t, dir, "proc/stat"); ok {
		// btime counts from the same boot as uptime.
		boot := Boot{InitStartTicks: sc.InitStartTicks, ClockTicks: sc.ClockTicks}
		in := StatInput{View: view, Usage: sc.Usage, ClockTicks: sc.ClockTicks, Boot: &boot}
		out["proc/stat"] = render(func(dst []byte) []byte { return Stat(dst, host, in) })
	}
	if host, ok := readHost(t, dir, "proc/uptime"); ok {
		in := UptimeInput{InitStartTicks: sc.InitStartTicks, ClockTicks: sc.ClockTicks, VisibleCPUs: len(view.Host), Usage: sc.Usage}
		out["proc/uptime"] = render(func(dst []byte) []byte { return Uptime(dst, host, in) })
	}
	if host, ok := readHost(t, dir, "proc/slabinfo"); ok {
		var cg []byte
		if sc.Slabinfo != nil {
			cg = []byte(*sc.Slabinfo)
		}
		out["proc/slabinfo"] = render(func(dst []byte) []byte { return Slabinfo(dst, host, cg) })
	}
	if _, ok := readHost(t, dir, onlinePath); ok {
		out[onlinePath] = render(func(dst []byte) []byte { return CPUList(dst, view) })
	}
	return out
}

func scenarioDirs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "scenario.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("%d golden scenarios, want at least 20", len(files))
	}
	dirs := make([]string, len(files))
	for i, f := range files {
		dirs[i] = filepath.Dir(f)
	}
	return dirs
}

// TestGolden renders each scenario and compares it byte for byte with want/.
// Each file is rendered three ways, which must agree: into a nil dst, into a
// reused buffer full of stale bytes (dst[:0]), and after a prefix already in
// dst (renderers append).
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, dir := range scenarioDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			got := renderScenario(t, dir, func(f func([]byte) []byte) []byte {
				fresh := f(nil)
				stale := bytes.Repeat([]byte{'X'}, 2*len(fresh)+64)
				if reused := f(stale[:0]); !bytes.Equal(reused, fresh) {
					t.Errorf("rendering into a reused buffer differs:\n%s", cmp.Diff(string(fresh), string(reused)))
				}
				prefix := []byte("prefix\n")
				if appended := f(prefix); !bytes.Equal(appended, append([]byte("prefix\n"), fresh...)) {
					t.Errorf("rendering after a prefix differs:\n%s", cmp.Diff("prefix\n"+string(fresh), string(appended)))
				}
				return fresh
			})
			for rel, b := range got {
				want := filepath.Join(dir, "want", rel)
				if *update {
					if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(want, b, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				w, err := os.ReadFile(want)
				if err != nil {
					t.Errorf("%v (run go test -update to create it)", err)
					continue
				}
				if diff := cmp.Diff(string(w), string(b)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", rel, diff)
				}
			}
			// No stale file in want/ for a host file that is gone.
			err := filepath.WalkDir(filepath.Join(dir, "want"), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, err := filepath.Rel(filepath.Join(dir, "want"), p)
				if err != nil {
					return err
				}
				if _, ok := got[filepath.ToSlash(rel)]; !ok {
					t.Errorf("want/%s has no host file", rel)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

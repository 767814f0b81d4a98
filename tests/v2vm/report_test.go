package v2vm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/lxcfs-go/lxcfs-go/tests/v2vm/wire"
)

// node is one level of the subtest tree built from result names.
type node struct {
	name     string
	results  []wire.Result
	children []*node
	index    map[string]*node
}

func (n *node) child(name string) *node {
	if n.index == nil {
		n.index = map[string]*node{}
	}
	c, ok := n.index[name]
	if !ok {
		c = &node{name: name}
		n.index[name] = c
		n.children = append(n.children, c)
	}
	return c
}

func (n *node) add(r wire.Result) {
	cur := n
	for _, part := range strings.Split(r.Name, "/") {
		cur = cur.child(part)
	}
	cur.results = append(cur.results, r)
}

// run makes n's results and children the subtests of t.
func (n *node) run(t *testing.T) {
	var skip string
	for _, r := range n.results {
		switch r.Status {
		case wire.Fail:
			msg := r.Message()
			if r.Detail != "" {
				msg += "\n" + indent(clip(r.Detail, 4000))
			}
			t.Error(msg)
		case wire.Skip:
			skip = r.Msg
		default:
			t.Log(passMessage(r))
		}
	}
	for _, c := range n.children {
		t.Run(c.name, c.run)
	}
	if skip != "" && len(n.children) == 0 {
		t.Skip(skip)
	}
}

// passMessage says what was checked and seen: "FILE: FIELD = GOT".
func passMessage(r wire.Result) string {
	var parts []string
	for _, p := range []string{r.File, r.Field} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	s := strings.Join(parts, ": ")
	if r.Got != "" {
		s += fmt.Sprintf(" = %q", r.Got)
	}
	return s
}

func indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "... (clipped; full text in the console log)"
}

// report turns the guest's records into subtests of t.
func report(t *testing.T, run *vmRun, goBin string) {
	root := &node{}
	for _, r := range applyPending(run.Results) {
		root.add(r)
	}
	if len(run.ITest) > 0 {
		rs, err := integrationResults(goBin, strings.Join(run.ITest, ""))
		if err != nil {
			t.Errorf("integration test output: %v", err)
		}
		for _, r := range rs {
			root.add(r)
		}
	}
	for _, c := range root.children {
		t.Run(c.name, c.run)
	}
}

// testOutput drops the framing lines (=== RUN, --- PASS, ...) from a
// test's output, keeping what the test logged.
func testOutput(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "")
}

// testEvent is go tool test2json's output (cmd/test2json).
type testEvent struct {
	Action string
	Test   string
	Output string
}

// integrationResults converts the integration binary's -test.v=test2json
// output into results named integration/<Test>[/<sub>...], each carrying
// that test's output when it failed or skipped.
func integrationResults(goBin, raw string) ([]wire.Result, error) {
	cmd := exec.Command(goBin, "tool", "test2json", "-p", "integration")
	cmd.Stdin = strings.NewReader(raw)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go tool test2json: %w: %s", err, errb.String())
	}
	output := map[string]*strings.Builder{}
	var order []string
	final := map[string]string{}
	dec := json.NewDecoder(&out)
	for {
		var ev testEvent
		if err := dec.Decode(&ev); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if ev.Test == "" {
			continue
		}
		b, ok := output[ev.Test]
		if !ok {
			b = &strings.Builder{}
			output[ev.Test] = b
			order = append(order, ev.Test)
		}
		switch ev.Action {
		case "output":
			b.WriteString(ev.Output)
		case "pass", "fail", "skip":
			final[ev.Test] = ev.Action
		}
	}
	var rs []wire.Result
	for _, name := range order {
		r := wire.Result{Name: "integration/" + name, File: "tests/integration", Field: name}
		text := testOutput(output[name].String())
		switch final[name] {
		case "pass":
			r.Status = wire.Pass
		case "skip":
			r.Status, r.Msg = wire.Skip, lastLines(strings.TrimSpace(text), 5)
		case "fail":
			r.Status, r.Msg = wire.Fail, "failed inside the v2 VM:\n"+text
		default:
			r.Status, r.Msg = wire.Fail, "did not finish inside the v2 VM (timeout or crash):\n"+text
		}
		rs = append(rs, r)
	}
	return rs, nil
}

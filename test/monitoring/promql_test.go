package monitoring

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/chattoken/chattoken/test/harness"
)

// promtool runs Debian's promtool with args and returns its output; a
// non-zero exit fails the test with that output.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin := harness.RequireTool(t, "promtool")
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// ruleFile is the part of a Prometheus rule file these tests read and write.
type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

type rule struct {
	Alert  string `json:"alert,omitempty"`
	Record string `json:"record,omitempty"`
	Expr   string `json:"expr"`
}

func readRules(t *testing.T, path string) ruleFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// checkExpressions has promtool check exprs (name -> expression), each
// written as a recording rule, the way Prometheus itself would load it.
func checkExpressions(t *testing.T, exprs map[string]string) {
	t.Helper()
	group := ruleGroup{Name: "expressions"}
	for name, expr := range exprs {
		group.Rules = append(group.Rules, rule{Record: name, Expr: expr})
	}
	data, err := yaml.Marshal(ruleFile{Groups: []ruleGroup{group}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", path)
}

// metricNames returns the metric that each selector of expr names, read by
// Prometheus' own parser. A selector that names none (matching on labels
// alone) is an error: it would match series of any service.
func metricNames(expr string) ([]string, error) {
	parsed, err := parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, matchers := range parser.ExtractSelectors(parsed) {
		name := ""
		for _, m := range matchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			return nil, fmt.Errorf("a selector names no metric: %v", matchers)
		}
		names = append(names, name)
	}
	return names, nil
}

// requireExported fails for each metric an expression names that the
// binary does not export.
func requireExported(t *testing.T, exported map[string]bool, where, expr string) {
	t.Helper()
	names, err := metricNames(expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return
	}
	for _, n := range names {
		if !exported[n] {
			t.Errorf("%s names %s, which chattoken does not export", where, n)
		}
	}
}

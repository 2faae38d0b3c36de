package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// dashboard is the part of a Grafana dashboard these tests read.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	// Panels are those of a collapsed row.
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// datasourceVariable is how a panel names the data source the viewer picks.
const datasourceVariable = "${datasource}"

// grafanaVariables are what Grafana puts in place of the variables the
// dashboard's expressions use, for a view of the last hour and every job.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"$job", ".+",
)

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// panels returns every panel, rows' included, but not the rows.
func (d dashboard) panels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// expressions returns each panel query's PromQL, with Grafana's variables
// substituted, keyed by a recording-rule name made of panel id and refId.
func (d dashboard) expressions(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, p := range d.panels() {
		for _, target := range p.Targets {
			expr := grafanaVariables.Replace(target.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q: a Grafana variable this test does not know: %s", p.Title, target.Expr)
			}
			exprs[fmt.Sprintf("dashboard:panel_%d_%s", p.ID, target.RefID)] = expr
		}
	}
	return exprs
}

// labelValues is Grafana's query for a variable's values.
var labelValues = regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

func TestDashboardUsesTheDatasourceVariable(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	var found bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			found = true
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != datasourceVariable) {
			t.Errorf("variable %s does not query %s", v.Name, datasourceVariable)
		}
	}
	if !found {
		t.Error("no datasource variable of Prometheus data sources")
	}
	ids := map[int]bool{}
	for _, p := range d.panels() {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource == nil || p.Datasource.UID != datasourceVariable || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q reads %+v, want the %s variable", p.Title, p.Datasource, datasourceVariable)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if target.Datasource == nil || target.Datasource.UID != datasourceVariable {
				t.Errorf("panel %q query %s reads %+v", p.Title, target.RefID, target.Datasource)
			}
		}
	}
}

// promtool loads every panel's expression as Prometheus would.
func TestDashboardExpressionsParse(t *testing.T) {
	t.Parallel()
	exprs := readDashboard(t).expressions(t)
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no query")
	}
	checkExpressions(t, exprs)
}

// Every metric a query names is one the running binary exports, and the
// dashboard shows what operators look at: tokens minted and reused,
// latency per route, refusals by code, the session backend's latency and
// outcomes, the cache hit ratio, the limits and the key's age.
func TestDashboardNamesOnlyExportedMetrics(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	svc, _ := exercisedService(t)
	exported := exportedNames(t, svc)
	shown := map[string]bool{}
	for name, expr := range d.expressions(t) {
		requireExported(t, exported, name, expr)
		names, _ := metricNames(expr)
		for _, n := range names {
			shown[n] = true
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, q.Query)
		} else if !exported[m[1]] {
			t.Errorf("variable %s names %s, which chattoken does not export", v.Name, m[1])
		}
	}
	for _, n := range []string{
		"chattoken_tokens_minted_total", "chattoken_tokens_reused_total",
		"chattoken_request_duration_seconds_bucket", "chattoken_refusals_total",
		"chattoken_session_upstream_duration_seconds_bucket", "chattoken_session_upstream_duration_seconds_count",
		"chattoken_session_cache_lookups_total", "chattoken_rate_limited_total", "chattoken_rate_limit_backend",
		"chattoken_active_key_age_seconds",
	} {
		if !shown[n] {
			t.Errorf("no panel shows %s", n)
		}
	}
}

package monitoring

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// prometheusServer is a real Prometheus started by startPrometheus.
type prometheusServer struct {
	url string
	log *harness.LockedBuffer
}

// startPrometheus runs Debian's prometheus on a free loopback port (never
// the machine's own :9090), scraping target (host:port) every second and
// evaluating ruleFiles every second, with its data in a directory of t's.
// It stops when the test ends.
func startPrometheus(t *testing.T, target string, ruleFiles ...string) *prometheusServer {
	t.Helper()
	bin := harness.RequireTool(t, "prometheus", "prometheus", "/usr/bin/prometheus")
	dir := t.TempDir()
	var rules []string
	for _, f := range ruleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, strconv.Quote(abs))
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: chattoken
    static_configs:
      - targets: [%q]
`, strings.Join(rules, ", "), target)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// The port is picked free and then handed to prometheus: another
	// process can take it in between, so try a few times.
	for attempt := 0; ; attempt++ {
		port := harness.FreePort(t)
		p := &prometheusServer{url: fmt.Sprintf("http://127.0.0.1:%d", port), log: &harness.LockedBuffer{}}
		cmd := exec.Command(bin, "--config.file="+configPath, "--storage.tsdb.path="+filepath.Join(dir, fmt.Sprint("data-", attempt)),
			"--web.listen-address="+strings.TrimPrefix(p.url, "http://"))
		cmd.Stdout, cmd.Stderr = p.log, p.log
		if err := cmd.Start(); err != nil {
			harness.MissingTool(t, "prometheus", "cannot start: "+err.Error())
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if waitReady(p.url+"/-/ready", exited) {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("prometheus log:\n%s", p.log.String())
				}
			})
			return p
		}
		stop()
		if strings.Contains(p.log.String(), "address already in use") && attempt < 3 {
			continue
		}
		t.Fatalf("prometheus did not become ready on port %d:\n%s\nconfig:\n%s", port, p.log.String(), config)
	}
}

// waitReady polls url until it answers 200 (true), the process exits or
// 15 s pass (false).
func waitReady(url string, exited <-chan struct{}) bool {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if harness.Answers200(client, url) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// api GETs path (with query) from Prometheus' HTTP API and decodes the
// data member of its answer into data.
func (p *prometheusServer) api(t *testing.T, path string, query url.Values, data any) {
	t.Helper()
	resp, err := http.Get(p.url + path + "?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if answer.Status != "success" {
		t.Fatalf("%s %v: %s %s", path, query, answer.Status, answer.Error)
	}
	if err := json.Unmarshal(answer.Data, data); err != nil {
		t.Fatalf("%s: %v in %s", path, err, answer.Data)
	}
}

// query evaluates expr now and returns the value of its single sample;
// ok is false when the result is empty.
func (p *prometheusServer) query(t *testing.T, expr string) (value float64, ok bool) {
	t.Helper()
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	p.api(t, "/api/v1/query", url.Values{"query": {expr}}, &data)
	switch {
	case data.ResultType != "vector" || len(data.Result) > 1:
		t.Fatalf("%s: %d results of type %s, want at most one sample", expr, len(data.Result), data.ResultType)
	case len(data.Result) == 0:
		return 0, false
	}
	s, _ := data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%s: value %v", expr, data.Result[0].Value)
	}
	return v, true
}

// alertRule is one alerting rule as /api/v1/rules reports it.
type alertRule struct {
	Name           string    `json:"name"`
	State          string    `json:"state"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

// alertRules returns every alerting rule Prometheus has loaded.
func (p *prometheusServer) alertRules(t *testing.T) []alertRule {
	t.Helper()
	var data struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	p.api(t, "/api/v1/rules", url.Values{"type": {"alert"}}, &data)
	var rules []alertRule
	for _, g := range data.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

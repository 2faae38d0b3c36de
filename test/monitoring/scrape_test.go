package monitoring

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// eventually polls cond every 200 ms until it reports true, failing the
// test with its last explanation after 20 s.
func eventually(t *testing.T, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %s", why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A real Prometheus scrapes the running binary and evaluates the shipped
// alerts on what it scraped: the counters read back through its HTTP API
// are the tokens the test received, and a healthy service raises no alert.
func TestPrometheusScrapesTheService(t *testing.T) {
	t.Parallel()
	svc, sent := exercisedService(t)
	start := time.Now()
	prom := startPrometheus(t, strings.TrimPrefix(svc.MetricsURL, "http://"), alertsFile)
	t.Logf("ready after %s", time.Since(start))

	want := map[string]int{
		`sum(chattoken_tokens_minted_total{job="chattoken"})`: sent.minted,
		`chattoken_tokens_reused_total{job="chattoken"}`:      sent.reused,
		`up{job="chattoken"}`:                                 1,
	}
	var scraped time.Time
	eventually(t, func() (bool, string) {
		for expr, n := range want {
			if v, ok := prom.query(t, expr); !ok || v != float64(n) {
				return false, fmt.Sprintf("%s = %v (present %v), want %d", expr, v, ok, n)
			}
		}
		scraped = time.Now()
		return true, ""
	})

	loaded := 0
	for _, g := range readRules(t, alertsFile).Groups {
		loaded += len(g.Rules)
	}
	t.Logf("counters scraped after %s", time.Since(start))
	eventually(t, func() (bool, string) {
		rules := prom.alertRules(t)
		if len(rules) != loaded {
			return false, fmt.Sprintf("prometheus has %d alerting rules, want the %d of %s", len(rules), loaded, alertsFile)
		}
		for _, r := range rules {
			if r.LastEvaluation.Before(scraped) {
				return false, fmt.Sprintf("%s not evaluated since the counters were scraped", r.Name)
			}
			if r.Health != "ok" {
				t.Fatalf("%s: health %s: %s", r.Name, r.Health, r.LastError)
			}
			if r.State != "inactive" {
				t.Fatalf("%s is %s on a healthy service", r.Name, r.State)
			}
		}
		return true, ""
	})
	t.Logf("rules evaluated after %s", time.Since(start))
}

package monitoring

import (
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chattoken/chattoken/test/harness"
)

// traffic is what exercisedService sent, as the service must count it.
type traffic struct {
	minted, reused int
}

// exercisedService starts chattoken (introspect mode, the session cache on,
// a per-subject limit of 2) and sends the requests that make every family
// of its metrics appear: tokens minted and reused, refusals, a rate-limited
// request, upstream lookups and cache hits.
func exercisedService(t *testing.T) (*harness.Service, traffic) {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"sub":"c-ann"}`)
	upstream.AddSession("bob", `{"sub":"c-bob"}`)
	_, key := harness.WriteRSAKey(t)
	svc := harness.Start(t, map[string]string{
		"CHATTOKEN_ISSUER":               "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE":     key,
		"CHATTOKEN_INTROSPECT_URL":       upstream.URL,
		"CHATTOKEN_INTROSPECT_CACHE_TTL": "30s",
		"CHATTOKEN_RATE_LIMIT_SUBJECT":   "2",
	})
	if svc.MetricsURL == "" {
		t.Fatal("no metrics listener")
	}
	// ann's second request is answered from the cache with her first
	// token again; her third is over the limit.
	for _, r := range []struct {
		cookie string
		status int
	}{
		{"ann", http.StatusOK}, {"ann", http.StatusOK}, {"ann", http.StatusTooManyRequests},
		{"bob", http.StatusOK}, {"stranger", http.StatusUnauthorized}, {"stranger", http.StatusUnauthorized},
	} {
		if resp, body := harness.Do(t, http.MethodGet, svc.URL+"/token", r.cookie, "", ""); resp.StatusCode != r.status {
			t.Fatalf("/token as %s: %d %s, want %d", r.cookie, resp.StatusCode, body, r.status)
		}
	}
	return svc, traffic{minted: 2, reused: 1}
}

// exportedNames scrapes svc's /metrics and returns the name of every series
// it exports; a histogram exports its _bucket, _sum and _count series.
func exportedNames(t *testing.T, svc *harness.Service) map[string]bool {
	t.Helper()
	resp, err := http.Get(svc.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	return names
}

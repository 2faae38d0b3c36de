package metrics

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/internal/ratelimit"
)

// series gathers m's registry into "name{label=value,...}" -> value, for
// the gauges and counters whose name starts with prefix.
func series(t *testing.T, m *Metrics, prefix string) map[string]float64 {
	t.Helper()
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), prefix) {
			continue
		}
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			v := s.GetGauge().GetValue() + s.GetCounter().GetValue()
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

// An alert on increase() sees the first failure only if the counter was
// already scraped at zero before it.
func TestFailureCountersAreExportedBeforeTheFirst(t *testing.T) {
	got := series(t, New(nil), "chattoken_")
	for _, name := range []string{"chattoken_signing_failures_total{}", "chattoken_key_reloads_total{result=failure}"} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0 from the start", name, v, ok)
		}
	}
}

func TestPublishedExpiry(t *testing.T) {
	m := New(nil)
	const name = "chattoken_published_keys_expiry_timestamp_seconds"
	if got := series(t, m, name); len(got) != 0 {
		t.Fatalf("without ObservePublishedExpiry: %v", got)
	}
	expiry := time.Unix(1795626000, 0)
	m.ObservePublishedExpiry(func() time.Time { return expiry })
	if got := series(t, m, name)[name+"{}"]; got != 1795626000 {
		t.Errorf("%s = %v, want %d", name, got, expiry.Unix())
	}
	expiry = expiry.Add(time.Hour)
	if got := series(t, m, name)[name+"{}"]; got != 1795629600 {
		t.Errorf("after a rebuild, %s = %v, want it read again at the scrape", name, got)
	}
}

// The alert on a Redis outage looks for a limit whose redis series is 0:
// a limit without Redis must not export one.
func TestRateLimitBackendSeries(t *testing.T) {
	m := New(nil)
	m.SetRateLimitLocal("address")
	m.SetRateLimitBackend("subject", ratelimit.BackendRedis)
	m.SetRateLimitBackend("subject", ratelimit.BackendLocal)
	want := map[string]float64{
		"chattoken_rate_limit_backend{backend=local,limit=address}": 1,
		"chattoken_rate_limit_backend{backend=local,limit=subject}": 1,
		"chattoken_rate_limit_backend{backend=redis,limit=subject}": 0,
	}
	got := series(t, m, "chattoken_rate_limit_backend")
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

package integration

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// limitedService starts chattoken against an upstream knowing ann and bob,
// with extra settings.
func limitedService(t *testing.T, extra map[string]string) (*harness.Service, *harness.SessionUpstream) {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"sub":"c-ann"}`)
	upstream.AddSession("bob", `{"sub":"c-bob"}`)
	_, key := harness.WriteRSAKey(t)
	env := map[string]string{
		"CHATTOKEN_ISSUER":               "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE":     key,
		"CHATTOKEN_INTROSPECT_URL":       upstream.URL,
		"CHATTOKEN_INTROSPECT_CACHE_TTL": "0s",
	}
	for k, v := range extra {
		env[k] = v
	}
	return harness.Start(t, env), upstream
}

// tokenStatus asks for a token with cookie and X-Forwarded-For (if any).
func tokenStatus(t *testing.T, base, cookie, xff string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/token", nil)
	if cookie != "" {
		req.Header.Set("Cookie", "session="+cookie)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

func statuses(t *testing.T, base, cookie string, xffs ...string) []int {
	t.Helper()
	var out []int
	for _, xff := range xffs {
		out = append(out, tokenStatus(t, base, cookie, xff).StatusCode)
	}
	return out
}

// TestSubjectLimit runs the same limit counted in the process and in Redis:
// both must allow the same burst and name the same wait.
func TestSubjectLimit(t *testing.T) {
	t.Parallel()
	for name, settings := range map[string]map[string]string{
		"in the process": {"CHATTOKEN_RATE_LIMIT_SUBJECT": "3"},
		"in Redis":       {"CHATTOKEN_RATE_LIMIT_SUBJECT": "3", "CHATTOKEN_REDIS_URL": harness.StartRedis(t)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc, _ := limitedService(t, settings)
			got := statuses(t, svc.URL, "ann", "", "", "", "")
			if fmt.Sprint(got) != "[200 200 200 429]" {
				t.Fatalf("ann's statuses %v, want three tokens then 429", got)
			}
			// Three a minute come back one every 20s: the next one in 20s,
			// less the moment the requests took, rounded up.
			resp := tokenStatus(t, svc.URL, "ann", "")
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "20" {
				t.Errorf("the next request: %d with Retry-After %q; want 429 with 20", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if got := tokenStatus(t, svc.URL, "bob", "").StatusCode; got != http.StatusOK {
				t.Errorf("bob is limited by ann's requests: %d", got)
			}
		})
	}
}

func TestAddressLimit(t *testing.T) {
	t.Parallel()
	t.Run("counts unauthenticated requests before the session lookup", func(t *testing.T) {
		t.Parallel()
		svc, upstream := limitedService(t, map[string]string{"CHATTOKEN_RATE_LIMIT_IP": "3", "CHATTOKEN_RATE_LIMIT_SUBJECT": "0"})
		got := statuses(t, svc.URL, "stranger", "", "", "", "", "")
		if fmt.Sprint(got) != "[401 401 401 429 429]" {
			t.Fatalf("statuses %v", got)
		}
		if n := len(upstream.Received()); n != 3 {
			t.Errorf("the session backend saw %d calls; the limited requests must not reach it", n)
		}
	})
	t.Run("a forged X-Forwarded-For from an untrusted peer is ignored", func(t *testing.T) {
		t.Parallel()
		svc, _ := limitedService(t, map[string]string{"CHATTOKEN_RATE_LIMIT_IP": "2"})
		got := statuses(t, svc.URL, "ann", "198.51.100.1", "198.51.100.2", "198.51.100.3")
		if fmt.Sprint(got) != "[200 200 429]" {
			t.Fatalf("statuses %v: a client chose its own address", got)
		}
		if logs := svc.Logs(`"client":"127.0.0.1"`); strings.Contains(logs, "198.51.100") {
			t.Errorf("the log believed a forged address:\n%s", logs)
		}
	})
	t.Run("a trusted proxy's X-Forwarded-For is believed", func(t *testing.T) {
		t.Parallel()
		svc, _ := limitedService(t, map[string]string{"CHATTOKEN_RATE_LIMIT_IP": "2", "CHATTOKEN_TRUSTED_PROXIES": "127.0.0.0/8"})
		got := statuses(t, svc.URL, "ann", "198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.2")
		if fmt.Sprint(got) != "[200 200 429 200]" {
			t.Fatalf("statuses %v: want per-client counting behind the proxy", got)
		}
		if logs := svc.Logs(`"client":"198.51.100.2"`); !strings.Contains(logs, `"client":"198.51.100.2"`) {
			t.Errorf("the log does not show the forwarded client:\n%s", logs)
		}
	})
	t.Run("IPv6 clients are counted per /64", func(t *testing.T) {
		t.Parallel()
		svc, _ := limitedService(t, map[string]string{"CHATTOKEN_RATE_LIMIT_IP": "2", "CHATTOKEN_TRUSTED_PROXIES": "127.0.0.0/8"})
		got := statuses(t, svc.URL, "ann", "2001:db8:1:2::1", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::3", "2001:db8:1:3::1")
		if fmt.Sprint(got) != "[200 200 429 200]" {
			t.Fatalf("statuses %v: addresses of one /64 must share a budget, another /64 has its own", got)
		}
		if logs := svc.Logs(`"client":"2001:db8:1:2::3"`); !strings.Contains(logs, `"client":"2001:db8:1:2::3"`) {
			t.Errorf("the log must still show the full address:\n%s", logs)
		}
	})
}

func TestLimitsSharedThroughRedis(t *testing.T) {
	t.Parallel()
	redisURL := harness.StartRedis(t)
	settings := map[string]string{"CHATTOKEN_RATE_LIMIT_SUBJECT": "4", "CHATTOKEN_REDIS_URL": redisURL}
	a, _ := limitedService(t, settings)
	b, _ := limitedService(t, settings)
	var got []int
	for i := range 6 {
		base := a.URL
		if i%2 == 1 {
			base = b.URL
		}
		got = append(got, tokenStatus(t, base, "ann", "").StatusCode)
	}
	if fmt.Sprint(got) != "[200 200 200 200 429 429]" {
		t.Fatalf("statuses across two replicas %v: the limit must hold across them", got)
	}
}

func TestRedisDownCountsInProcess(t *testing.T) {
	t.Parallel()
	redis := harness.NewRedis(t)
	svc, _ := limitedService(t, map[string]string{"CHATTOKEN_RATE_LIMIT_SUBJECT": "2", "CHATTOKEN_REDIS_URL": redis.URL})
	const (
		inRedis = `chattoken_rate_limit_backend{backend="redis",limit="subject"}`
		inLocal = `chattoken_rate_limit_backend{backend="local",limit="subject"}`
		logLine = "Redis cannot be reached"
	)
	if r, l := metricValue(t, svc, inRedis), metricValue(t, svc, inLocal); r != 1 || l != 0 {
		t.Fatalf("before any request: redis %v, local %v; want the count in Redis", r, l)
	}

	redis.Stop()
	start := time.Now()
	got := statuses(t, svc.URL, "ann", "", "", "", "")
	if fmt.Sprint(got) != "[200 200 429 429]" {
		t.Fatalf("with Redis down: %v; the limit of 2 must still hold, counted in the process", got)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("four requests took %s with Redis down", took)
	}
	if r, l := metricValue(t, svc, inRedis), metricValue(t, svc, inLocal); r != 0 || l != 1 {
		t.Errorf("with Redis down: redis %v, local %v; want the metric to say local", r, l)
	}
	if n := strings.Count(svc.Logs(logLine), logLine); n != 1 {
		t.Errorf("Redis being down is logged %d times for four requests; want once:\n%s", n, svc.Logs())
	}

	// Redis comes back empty: ann's next request that reaches it is allowed
	// again, which the exhausted count in the process would refuse.
	redis.Start()
	deadline := time.Now().Add(5 * time.Second)
	for tokenStatus(t, svc.URL, "ann", "").StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("Redis answers again, but 5s later the limit still counts in the process")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r, l := metricValue(t, svc, inRedis), metricValue(t, svc, inLocal); r != 1 || l != 0 {
		t.Errorf("Redis back: redis %v, local %v; want the metric to say redis", r, l)
	}
}

func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	svc, upstream := limitedService(t, map[string]string{"CHATTOKEN_INTROSPECT_CONCURRENCY": "1", "CHATTOKEN_INTROSPECT_TIMEOUT": "5s"})
	release := upstream.HoldSession("ann")
	done := make(chan int, 1)
	go func() { done <- tokenStatus(t, svc.URL, "ann", "").StatusCode }()
	select {
	case <-upstream.Arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the held lookup never reached the upstream")
	}
	start := time.Now()
	resp := tokenStatus(t, svc.URL, "bob", "")
	if resp.StatusCode != http.StatusServiceUnavailable || time.Since(start) > time.Second {
		t.Errorf("a lookup past the bound: %d after %s; want 503 at once", resp.StatusCode, time.Since(start))
	}
	release()
	if got := <-done; got != http.StatusOK {
		t.Errorf("the held lookup got %d", got)
	}
}

// metricValue reads one sample from the metrics listener; -1 when absent.
func metricValue(t *testing.T, svc *harness.Service, name string) float64 {
	t.Helper()
	resp, body := harness.Do(t, http.MethodGet, svc.MetricsURL+"/metrics", "", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+-]+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestMetricsMove(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := writeKeyFile(t, dir, "1.pem")
	svc, _ := limitedService(t, map[string]string{
		"CHATTOKEN_SIGNING_KEY_FILE":     dir,
		"CHATTOKEN_RATE_LIMIT_SUBJECT":   "2",
		"CHATTOKEN_INTROSPECT_CACHE_TTL": "30s",
	})
	if svc.MetricsURL == "" {
		t.Fatal("no metrics listener")
	}
	if resp, _ := harness.Do(t, http.MethodGet, svc.URL+"/metrics", "", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: %d, want 404", resp.StatusCode)
	}
	kid := kidOf(key)
	minted := `chattoken_tokens_minted_total{alg="RS256",kid="` + kid + `"}`
	if v := metricValue(t, svc, minted); v > 0 {
		t.Fatalf("minted before any request: %v", v)
	}
	statuses(t, svc.URL, "ann", "", "", "")  // 200, 200 (cached), 429
	statuses(t, svc.URL, "stranger", "", "") // 401, 401 (negative cache)
	if err := svc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	_ = svc.Logs("keys reloaded")

	for name, want := range map[string]float64{
		minted:                          1,
		`chattoken_tokens_reused_total`: 1,
		`chattoken_refusals_total{code="rate_limited"}`:                                      1,
		`chattoken_refusals_total{code="unauthenticated"}`:                                   2,
		`chattoken_rate_limited_total{limit="subject"}`:                                      1,
		`chattoken_session_cache_lookups_total{result="hit"}`:                                2,
		`chattoken_session_cache_lookups_total{result="negative_hit"}`:                       1,
		`chattoken_session_cache_lookups_total{result="miss"}`:                               2,
		`chattoken_session_upstream_duration_seconds_count{outcome="ok"}`:                    1,
		`chattoken_key_reloads_total{result="success"}`:                                      1,
		`chattoken_request_duration_seconds_count{method="GET",route="/token",status="200"}`: 2,
	} {
		if got := metricValue(t, svc, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if age := metricValue(t, svc, "chattoken_active_key_age_seconds"); age < 0 || age > 60 {
		t.Errorf("active key age %v", age)
	}
}

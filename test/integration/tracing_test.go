package integration

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// TestTracingExportsSpans points chattoken at an OTLP/HTTP receiver through
// the standard variables and sees the spans of a token request arrive: the
// request's and the session upstream call's, which receives trace context.
func TestTracingExportsSpans(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		exports [][]byte
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" {
			mu.Lock()
			exports = append(exports, body)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(collector.Close)

	var traceparent sync.Map
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp := r.Header.Get("Traceparent"); tp != "" {
			traceparent.Store("seen", tp)
		}
		_, _ = io.WriteString(w, `{"sub":"c-ann"}`)
	}))
	t.Cleanup(upstream.Close)

	_, key := harness.WriteRSAKey(t)
	svc := harness.Start(t, map[string]string{
		"CHATTOKEN_ISSUER":            "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE":  key,
		"CHATTOKEN_INTROSPECT_URL":    upstream.URL,
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "100",
	})
	if resp, body := harness.Do(t, http.MethodGet, svc.URL+"/token", "ann", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("/token: %d %s", resp.StatusCode, body)
	}
	if _, ok := traceparent.Load("seen"); !ok {
		t.Error("the session upstream received no traceparent header")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		all := string(bytes.Join(exports, nil))
		mu.Unlock()
		if strings.Contains(all, "chattoken GET") && strings.Contains(all, "HTTP GET") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request and upstream spans exported within 10s (got %d exports)", len(exports))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

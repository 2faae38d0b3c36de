package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/clientip"
	"github.com/chattoken/chattoken/internal/metrics"
	"github.com/chattoken/chattoken/test/harness"
)

// An *Error wrapped on its way up is still the answer it describes, not a
// generic 500.
func TestWriteProblemFindsAWrappedError(t *testing.T) {
	t.Parallel()
	limited := newError(http.StatusTooManyRequests, CodeRateLimited, nil, "slow down")
	limited.Header = http.Header{"Retry-After": {"7"}}
	for name, err := range map[string]error{
		"bare":          limited,
		"wrapped":       fmt.Errorf("checking the limit: %w", limited),
		"wrapped twice": fmt.Errorf("minting: %w", fmt.Errorf("checking the limit: %w", limited)),
	} {
		rec := httptest.NewRecorder()
		WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/token", nil), err)
		var p problem
		if jsonErr := json.Unmarshal(rec.Body.Bytes(), &p); jsonErr != nil {
			t.Fatalf("%s: %v in %q", name, jsonErr, rec.Body)
		}
		if rec.Code != http.StatusTooManyRequests || p.Code != CodeRateLimited || p.Detail != "slow down" ||
			rec.Header().Get("Retry-After") != "7" || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %+v %v; want 429 rate_limited with Retry-After 7", name, rec.Code, p, rec.Header())
		}
	}
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/token", nil), io.ErrUnexpectedEOF)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "EOF") {
		t.Errorf("another error: %d %s; want a 500 that does not repeat it", rec.Code, rec.Body)
	}
}

// failInTheHandler is the code that panics; the logged stack must name it.
func failInTheHandler(_ http.ResponseWriter, r *http.Request) {
	var counts []int
	counts[len(r.URL.Path)]++ // out of range: a runtime panic, as a real bug would give
}

func TestRecovererLogsTheStack(t *testing.T) {
	t.Parallel()
	var logs harness.LockedBuffer
	log := zerolog.New(&logs)
	h := accessLog(log, clientip.Trusted{}, metrics.New(nil))(recoverer(log)(http.HandlerFunc(failInTheHandler)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/token", nil))

	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != http.StatusInternalServerError || p.Code != CodeInternal {
		t.Fatalf("answer %d %s (%v); want a 500 internal problem", rec.Code, rec.Body, err)
	}
	var panicked struct {
		Level, Message, Panic, Stack string
		RequestID                    string `json:"request_id"`
	}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"handler panicked"`) {
			if err := json.Unmarshal(sc.Bytes(), &panicked); err != nil {
				t.Fatal(err)
			}
		}
	}
	if panicked.Level != "error" || !strings.Contains(panicked.Panic, "index out of range") ||
		!strings.Contains(panicked.Stack, "httpapi.failInTheHandler") || panicked.RequestID != p.RequestID || p.RequestID == "" {
		t.Errorf("the panic's log line %+v (answer's request id %q); want the value, a stack naming failInTheHandler and the request id\n%s",
			panicked, p.RequestID, logs.String())
	}
}

// A handler that aborts on purpose (http.ErrAbortHandler) is left to
// net/http, which drops the connection quietly.
func TestRecovererLeavesAbortsToNetHTTP(t *testing.T) {
	t.Parallel()
	h := recoverer(zerolog.Nop())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v; want http.ErrAbortHandler passed on", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/token", nil))
}

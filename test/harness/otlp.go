package harness

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// SpanReceiver is an OTLP/HTTP trace receiver, as a collector would be:
// chattoken exports to it through the standard OTEL_* variables, and a test
// reads back both the decoded spans and the bytes that arrived.
type SpanReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	spans  []*tracepb.Span
}

func NewSpanReceiver(t *testing.T) *SpanReceiver {
	t.Helper()
	s := &SpanReceiver{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *SpanReceiver) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		// Kept uncompressed, so that a search of the bytes sees every
		// string a span carries (protobuf writes them as they are).
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	var export collectorpb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(data, &export)
	}
	if r.URL.Path != "/v1/traces" || err != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, data)
	for _, rs := range export.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			s.spans = append(s.spans, ss.Spans...)
		}
	}
	s.mu.Unlock()
	// No body is an empty ExportTraceServiceResponse: all spans accepted.
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// Configure adds to env the variables that make chattoken export its spans
// here, within a tenth of a second of their end, and returns env.
func (s *SpanReceiver) Configure(env map[string]string) map[string]string {
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = s.URL
	env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
	return env
}

// Raw returns every export body received so far, uncompressed, end to end.
func (s *SpanReceiver) Raw() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Join(s.bodies, nil)
}

// Spans returns the spans received so far.
func (s *SpanReceiver) Spans() []*tracepb.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*tracepb.Span(nil), s.spans...)
}

// WaitFor returns the first span that match accepts, waiting up to 10s for
// it to arrive; the test fails without one.
func (s *SpanReceiver) WaitFor(t *testing.T, what string, match func(*tracepb.Span) bool) *tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, span := range s.Spans() {
			if match(span) {
				return span
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s exported within 10s (got %d spans)", what, len(s.Spans()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ServerSpan and ClientSpan match the span of a request chattoken served
// and of one it sent.
func ServerSpan(s *tracepb.Span) bool { return s.Kind == tracepb.Span_SPAN_KIND_SERVER }
func ClientSpan(s *tracepb.Span) bool { return s.Kind == tracepb.Span_SPAN_KIND_CLIENT }

// SpanAttr returns the string value of a span's attribute key.
func SpanAttr(s *tracepb.Span, key string) (string, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.GetStringValue(), true
		}
	}
	return "", false
}

// HexID is a trace or span id as a traceparent header writes it.
func HexID(id []byte) string { return hex.EncodeToString(id) }

// Package telemetry is chattoken's OpenTelemetry tracing: spans for the
// requests it answers and the calls it makes to the session upstream,
// exported over OTLP without the URL parts that carry secrets.
package telemetry

import (
	"context"
	"fmt"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/chattoken/chattoken/internal/clientip"
	"github.com/chattoken/chattoken/internal/httpapi"
	"github.com/chattoken/chattoken/internal/session"
)

// Tracing wraps handlers and transports so that they record spans, and
// flushes what is recorded at exit.
type Tracing struct {
	// Handler wraps the service's handler.
	Handler func(http.Handler) http.Handler
	// Transport wraps the transport of calls to the session upstream.
	Transport func(http.RoundTripper) http.RoundTripper
	// Shutdown exports what is still buffered.
	Shutdown func(context.Context) error
}

// off wraps nothing and exports nothing.
func off() Tracing {
	return Tracing{
		Handler:   func(h http.Handler) http.Handler { return h },
		Transport: func(t http.RoundTripper) http.RoundTripper { return t },
		Shutdown:  func(context.Context) error { return nil },
	}
}

// maxAttributeLength bounds every string a span records: user agents, hosts
// and methods are chosen by the client, and each span is kept in memory
// until it is exported.
const maxAttributeLength = 256

// New builds the tracing of the OTLP endpoint that the standard OTEL_*
// variables (read through getenv) configure; without one nothing is wrapped
// and nothing is exported. Only a request from one of trusted continues its
// caller's trace; any other starts a trace of its own.
func New(ctx context.Context, getenv func(string) string, trusted clientip.Trusted) (Tracing, error) {
	disabled := off()
	if getenv("OTEL_SDK_DISABLED") == "true" ||
		(getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "") {
		return disabled, nil
	}
	// The exporter reads the OTEL_EXPORTER_OTLP_* variables itself.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return disabled, fmt.Errorf("OpenTelemetry exporter: %w", err)
	}
	// "chattoken" unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say
	// otherwise: later options win.
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName("chattoken")),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return disabled, fmt.Errorf("OpenTelemetry resource: %w", err)
	}
	// The limits start from the OTEL_SPAN_* and OTEL_ATTRIBUTE_* variables;
	// those may lower the length bound, never lift it.
	limits := sdktrace.NewSpanLimits()
	if limits.AttributeValueLengthLimit < 0 || limits.AttributeValueLengthLimit > maxAttributeLength {
		limits.AttributeValueLengthLimit = maxAttributeLength
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(redactingExporter{exp}),
		sdktrace.WithResource(res),
		sdktrace.WithRawSpanLimits(limits))
	otel.SetTracerProvider(tp)
	// Trace context only: baggage is whatever the browser chose to send,
	// and propagating it would hand that to the session upstream.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return Tracing{
		Handler: func(h http.Handler) http.Handler {
			return otelhttp.NewHandler(h, "chattoken",
				// Span names stay low-cardinality: a known method, never
				// the path.
				otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
					return "chattoken " + httpapi.MethodLabel(r.Method)
				}),
				// A browser's traceparent is kept as a link only: as a
				// parent it would let anyone choose the trace (and its
				// sampling) that the service's spans join.
				otelhttp.WithPublicEndpointFn(func(r *http.Request) bool { return !trusted.PeerTrusted(r) }))
		},
		Transport: func(t http.RoundTripper) http.RoundTripper { return otelhttp.NewTransport(t) },
		Shutdown:  tp.Shutdown,
	}, nil
}

// redactingExporter removes from every span, as it leaves the process, the
// parts of a URL that carry secrets: the query (/token?secret=…, an
// introspection URL's ?api_key=…), the fragment and the user info. It works
// on the export rather than on the span's start because otelhttp records a
// client span's url.full only after the span has started.
type redactingExporter struct{ sdktrace.SpanExporter }

func (e redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	redacted := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		redacted[i] = redactedSpan{s}
	}
	return e.SpanExporter.ExportSpans(ctx, redacted)
}

// redactedSpan is a span whose attributes hold no URL query or user info.
type redactedSpan struct{ sdktrace.ReadOnlySpan }

func (s redactedSpan) Attributes() []attribute.KeyValue {
	attrs := s.ReadOnlySpan.Attributes()
	kept := make([]attribute.KeyValue, 0, len(attrs))
	for _, kv := range attrs {
		switch kv.Key {
		case semconv.URLQueryKey:
			continue
		case semconv.URLFullKey:
			u, ok := session.RedactURL(kv.Value.AsString())
			if !ok {
				continue
			}
			kv = semconv.URLFull(u)
		}
		kept = append(kept, kv)
	}
	return kept
}

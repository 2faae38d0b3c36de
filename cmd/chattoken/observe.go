package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/chattoken/chattoken/internal/metrics"
)

// serveMetrics serves /metrics on its own listener until ctx ends. It is
// never routed on the public listener.
func serveMetrics(ctx context.Context, log zerolog.Logger, addr string, m *metrics.Metrics) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("metrics listener stopped")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("metrics listening")
	return nil
}

// tracing turns on OpenTelemetry tracing when an OTLP endpoint is
// configured through the standard OTEL_* variables, and returns a wrapper
// for handlers and transports plus a function that flushes at exit. Without
// an endpoint nothing is wrapped and nothing is exported.
type tracing struct {
	handler   func(http.Handler) http.Handler
	transport func(http.RoundTripper) http.RoundTripper
	shutdown  func(context.Context) error
}

// noTracing wraps nothing and exports nothing.
func noTracing() tracing {
	return tracing{
		handler:   func(h http.Handler) http.Handler { return h },
		transport: func(t http.RoundTripper) http.RoundTripper { return t },
		shutdown:  func(context.Context) error { return nil },
	}
}

func newTracing(ctx context.Context, getenv func(string) string) (tracing, error) {
	off := noTracing()
	if getenv("OTEL_SDK_DISABLED") == "true" ||
		(getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "") {
		return off, nil
	}
	// The exporter reads the OTEL_EXPORTER_OTLP_* variables itself.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return off, fmt.Errorf("OpenTelemetry exporter: %w", err)
	}
	res, _ := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("chattoken")))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tracing{
		handler: func(h http.Handler) http.Handler {
			// Span names stay low-cardinality: the method, never the path.
			return otelhttp.NewHandler(h, "chattoken", otelhttp.WithSpanNameFormatter(
				func(_ string, r *http.Request) string { return "chattoken " + r.Method }))
		},
		transport: func(t http.RoundTripper) http.RoundTripper { return otelhttp.NewTransport(t) },
		shutdown:  tp.Shutdown,
	}, nil
}

package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/chattoken/chattoken/internal/clientip"
	"github.com/chattoken/chattoken/internal/metrics"
	"github.com/chattoken/chattoken/internal/token"
)

// requestInfo collects what the access log line says about one request.
// Handlers fill it in; the access log middleware writes it once at the end.
type requestInfo struct {
	id     string
	client string // the client's address (see clientip)
	err    *Error
	minted *token.Token
	sub    string
	widget string // a widget the context schema defines, never the browser's word alone
}

func (i *requestInfo) fail(e *Error) { i.err = e }

type infoKey struct{}

// infoFrom returns the request's info. Outside the middleware (a handler
// called directly by a test) it returns a throwaway value.
func infoFrom(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// newRequestID returns 96 random bits: unique enough to find one request in
// the logs, short enough to read out over the phone.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// accessLog gives each request an id (echoed in X-Request-Id) and writes one
// log line when it ends. Only 5xx answers are logged at error level, with
// their cause; the line never holds a token, cookie or Authorization header.
func accessLog(log zerolog.Logger, trusted clientip.Trusted, m *metrics.Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			info := &requestInfo{id: newRequestID(), client: trusted.Client(r)}
			// The tracing span (when there is one) names the same client as
			// the log and the limits: its own guess would believe any
			// X-Forwarded-For.
			trace.SpanFromContext(r.Context()).SetAttributes(semconv.ClientAddress(info.client))
			method := MethodLabel(r.Method)
			w.Header().Set("X-Request-Id", info.id)
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

			defer func() {
				status := ww.Status()
				if status == 0 {
					status = http.StatusOK
				}
				elapsed := time.Since(start)
				route := routePattern(r)
				m.RequestDuration.WithLabelValues(route, method, strconv.Itoa(status)).Observe(elapsed.Seconds())
				// A 5xx is an error, unless the client went away first (it
				// gave up or closed the tab): then nothing failed here.
				// A 501 answers a client's made-up method: a refusal, not a
				// failure, so a flood of them cannot fill the error log.
				level := zerolog.InfoLevel
				if status >= 500 && status != http.StatusNotImplemented && r.Context().Err() == nil {
					level = zerolog.ErrorLevel
				}
				ev := log.WithLevel(level).
					Str("request_id", info.id).
					Str("method", method).
					Str("route", route).
					Int("status", status).
					Dur("duration_ms", elapsed).
					Str("client", info.client)
				if info.widget != "" {
					ev = ev.Str("widget", info.widget)
				}
				if info.err != nil {
					m.Refusals.WithLabelValues(info.err.Code).Inc()
					ev = ev.Str("code", info.err.Code)
					// The cause never holds a token, cookie or key; for a
					// refusal it says why (expired, wrong audience...).
					switch {
					case info.err.Cause == nil:
					case status >= 500:
						ev = ev.AnErr("error", info.err.Cause)
					default:
						ev = ev.Str("reason", info.err.Cause.Error())
					}
				}
				if info.minted != nil {
					ev = ev.Str("sub", info.sub).Str("kid", info.minted.KID).Str("jti", info.minted.ID).Bool("reused", info.minted.Reused)
				}
				ev.Msg("request")
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

// routePattern is the matched route ("/token"), never the raw path, so that
// logs and metrics cannot be flooded with distinct values.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// recoverer turns a panic into a 500 problem, so one bad request cannot
// take the process down. The panic's value and the stack where it happened
// are logged with the request's id: without the stack, the value alone
// seldom says which code failed.
func recoverer(log zerolog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error().Str("request_id", infoFrom(r.Context()).id).Str("panic", fmt.Sprint(v)).
						Str("stack", string(debug.Stack())).Msg("handler panicked")
					WriteProblem(w, r, fmt.Errorf("panic: %v", v))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// securityHeaders are set on every answer: nothing here is meant to be
// sniffed into another type or to leak the page's URL onwards.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

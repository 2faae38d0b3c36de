// Package httpapi is chattoken's HTTP interface: the routes, their handlers,
// the middleware around them, and the one error type with its problem+json
// writer.
package httpapi

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/clientip"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/metrics"
	"github.com/chattoken/chattoken/internal/ratelimit"
	"github.com/chattoken/chattoken/internal/session"
	"github.com/chattoken/chattoken/internal/token"
)

// Deps is everything the HTTP interface needs, passed in explicitly.
type Deps struct {
	Log      zerolog.Logger
	Sessions session.Source
	Minter   *token.Minter
	// Keys returns the current key set, whose published bodies the key
	// routes serve.
	Keys func() *keys.Set
	// Claims reads the subject, identity claims and context variables
	// from the session document. A nil Claims.Context means no schema.
	Claims token.Assembler
	// CORSOrigins are the exact origins allowed to read /token from a
	// browser, with credentials.
	CORSOrigins []string
	// Ready is false once shutdown has begun.
	Ready *atomic.Bool
	// Trusted are the proxies whose X-Forwarded-For names the client.
	Trusted clientip.Trusted
	// Limits on /token; a nil limiter is off.
	SubjectLimit, AddressLimit ratelimit.Limiter
	// Metrics records what the service does; nil records nowhere.
	Metrics *metrics.Metrics

	// limiterLog logs the limiters' errors at most once per 10s: while
	// Redis is down, every request of every limit would otherwise log one.
	limiterLog zerolog.Logger
}

// NewServer returns the service's HTTP handler.
func NewServer(d Deps) http.Handler {
	if d.Claims.Context == nil {
		d.Claims.Context = lwicontext.Empty()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New(nil)
	}
	d.limiterLog = d.Log.Sample(&zerolog.BurstSampler{Burst: 1, Period: 10 * time.Second})
	r := chi.NewRouter()
	// The access log only observes; refuseUnknownMethods is the first to
	// answer, so no handler ever sees a method outside the known set.
	r.Use(accessLog(d.Log, d.Trusted, d.Metrics), refuseUnknownMethods, securityHeaders, recoverer(d.Log), middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, newError(http.StatusNotFound, CodeNotFound, nil, "no route for %s", r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		allowed := allowedMethods(r, req.URL.Path)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		WriteProblem(w, req, newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, nil,
			"%s is not allowed here; use %s", req.Method, strings.Join(allowed, " or ")))
	})
	addRoutes(r, d)
	return r
}

// allowedMethods asks the router which methods a path answers, for the
// Allow header of a 405.
func allowedMethods(r chi.Routes, path string) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		if r.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
			if m == http.MethodGet {
				// middleware.GetHead answers HEAD wherever GET is routed.
				allowed = append(allowed, http.MethodHead)
			}
		}
	}
	return allowed
}

// Package metrics defines chattoken's Prometheus metrics on a registry of
// its own, served on a separate listener (never the public one).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chattoken/chattoken/internal/ratelimit"
)

// Metrics are the service's collectors. The zero value is not usable; use
// New.
type Metrics struct {
	registry *prometheus.Registry

	TokensMinted     *prometheus.CounterVec
	TokensReused     prometheus.Counter
	SigningFailures  prometheus.Counter
	Refusals         *prometheus.CounterVec
	RequestDuration  *prometheus.HistogramVec
	UpstreamDuration *prometheus.HistogramVec
	CacheLookups     *prometheus.CounterVec
	RateLimited      *prometheus.CounterVec
	RateLimitBackend *prometheus.GaugeVec
	KeyReloads       *prometheus.CounterVec
}

// New registers every collector. activeKeyAge reports how old the signing
// key is; nil leaves that gauge out.
func New(activeKeyAge func() time.Duration) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		TokensMinted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chattoken_tokens_minted_total", Help: "Tokens signed, by algorithm and key id.",
		}, []string{"alg", "kid"}),
		TokensReused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chattoken_tokens_reused_total", Help: "Tokens handed out again to a session that asked twice, without a new signature.",
		}),
		SigningFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chattoken_signing_failures_total", Help: "Tokens that could not be signed (each answered 500).",
		}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chattoken_refusals_total", Help: "Error answers, by stable error code.",
		}, []string{"code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chattoken_request_duration_seconds", Help: "Time to answer a request, by route and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chattoken_session_upstream_duration_seconds", Help: "Calls to the session backend, by outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		CacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chattoken_session_cache_lookups_total", Help: "Session cache lookups: hit, negative_hit or miss.",
		}, []string{"result"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chattoken_rate_limited_total", Help: "Requests refused by a rate limit, by limit (subject or address).",
		}, []string{"limit"}),
		RateLimitBackend: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chattoken_rate_limit_backend", Help: "Where each rate limit counts: 1 for the backend in use (redis, or local to this process), 0 for the other.",
		}, []string{"limit", "backend"}),
		KeyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chattoken_key_reloads_total", Help: "Key reloads, by result (success or failure).",
		}, []string{"result"}),
	}
	m.registry.MustRegister(m.TokensMinted, m.TokensReused, m.SigningFailures, m.Refusals, m.RequestDuration, m.UpstreamDuration,
		m.CacheLookups, m.RateLimited, m.RateLimitBackend, m.KeyReloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Both results start at zero: an alert on increase() misses a series
	// whose first sample is already 1, that is, the first failed reload.
	for _, result := range []string{"success", "failure"} {
		m.KeyReloads.WithLabelValues(result)
	}
	if activeKeyAge != nil {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chattoken_active_key_age_seconds", Help: "Age of the signing key (since its file was written).",
		}, func() float64 { return activeKeyAge().Seconds() }))
	}
	return m
}

// ObservePublishedExpiry adds the gauge of when the key array the service
// publishes expires, read from expiry at each scrape. The array is rebuilt
// hourly, so the expiry should stay more than a day ahead: one that draws
// near means the rebuilds stopped, and verifiers that cache the array will
// soon refuse every token.
func (m *Metrics) ObservePublishedExpiry(expiry func() time.Time) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chattoken_published_keys_expiry_timestamp_seconds", Help: "When the published key array expires (Unix seconds); RS256 only.",
	}, func() float64 { return float64(expiry().Unix()) }))
}

// SetRateLimitLocal records that limit counts in this process because no
// Redis is configured. Unlike a fallback it exports no redis series, so an
// alert can tell a Redis outage (redis 0, local 1) from a deployment
// without Redis (local 1 alone).
func (m *Metrics) SetRateLimitLocal(limit string) {
	m.RateLimitBackend.WithLabelValues(limit, ratelimit.BackendLocal).Set(1)
}

// SetRateLimitBackend records that limit (subject or address), configured
// to count in Redis, counts in backend (ratelimit.BackendRedis or
// BackendLocal) and not in the other.
func (m *Metrics) SetRateLimitBackend(limit, backend string) {
	for _, b := range []string{ratelimit.BackendRedis, ratelimit.BackendLocal} {
		v := 0.0
		if b == backend {
			v = 1
		}
		m.RateLimitBackend.WithLabelValues(limit, b).Set(v)
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

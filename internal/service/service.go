// Package service assembles the production token service from its
// configuration: the signing keys and claims, the session source of the
// configured mode, the rate limits, the metrics and the tracing, and the
// HTTP handler over them. Serving it is package server's job.
package service

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/httpapi"
	"github.com/chattoken/chattoken/internal/metrics"
	"github.com/chattoken/chattoken/internal/telemetry"
)

// flushTimeout bounds how long the spans still buffered at exit may take to
// be exported.
const flushTimeout = 5 * time.Second

// Service is the token service, built and not yet serving.
type Service struct {
	*Signing
	Metrics *metrics.Metrics
	deps    httpapi.Deps
	tracing telemetry.Tracing
	close   func()
}

// New builds the service of cfg; getenv reads the OTEL_* variables. Every
// configuration mistake it finds names its variable. The caller must Close
// it.
func New(ctx context.Context, cfg *config.Config, getenv func(string) string, log zerolog.Logger) (*Service, error) {
	s, err := NewSigning(cfg, log)
	if err != nil {
		return nil, err
	}
	m := metrics.New(func() time.Duration {
		if w := s.Store.Current().SignerWritten; !w.IsZero() {
			return time.Since(w)
		}
		return 0
	})
	// HS256 publishes no key, so only RS256 has an expiry to watch.
	if len(s.Store.Current().Keys) > 0 {
		m.ObservePublishedExpiry(func() time.Time { return s.Store.Current().Expiry() })
	}
	s.Store.OnReload(func(err error) {
		result := "success"
		if err != nil {
			result = "failure"
		}
		m.KeyReloads.WithLabelValues(result).Inc()
	})
	tracing, err := telemetry.New(ctx, getenv, cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	svc := &Service{Signing: s, Metrics: m, tracing: tracing, close: func() {}}
	sessions, err := newSessionSource(ctx, cfg, log, m, tracing.Transport, s.Claims)
	if err != nil {
		svc.Close()
		return nil, err
	}
	subjectLimit, addressLimit, closeLimits, err := newLimiters(cfg, m)
	if err != nil {
		svc.Close()
		return nil, err
	}
	svc.close = closeLimits
	svc.deps = httpapi.Deps{
		Log:          log,
		Sessions:     sessions,
		Minter:       s.Minter,
		Keys:         s.Store.Current,
		Claims:       s.Claims,
		CORSOrigins:  cfg.CORSOrigins,
		Trusted:      cfg.TrustedProxies,
		SubjectLimit: subjectLimit,
		AddressLimit: addressLimit,
		Metrics:      m,
	}
	return svc, nil
}

// Handler is the service's HTTP handler, traced when tracing is on; ready
// is what /readyz answers.
func (s *Service) Handler(ready *atomic.Bool) http.Handler {
	deps := s.deps
	deps.Ready = ready
	return s.tracing.Handler(httpapi.NewServer(deps))
}

// Close exports the spans still buffered and releases the Redis client.
func (s *Service) Close() {
	s.close()
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	_ = s.tracing.Shutdown(ctx)
}

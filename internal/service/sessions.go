package service

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/metrics"
	"github.com/chattoken/chattoken/internal/session"
	"github.com/chattoken/chattoken/internal/token"
)

// newSessionSource builds the Source of the configured session mode; claims
// tells what the tokens read from a session document.
func newSessionSource(ctx context.Context, cfg *config.Config, log zerolog.Logger, m *metrics.Metrics, wrapTransport func(http.RoundTripper) http.RoundTripper, claims token.Assembler) (session.Source, error) {
	switch cfg.SessionMode {
	case config.ModeJWT:
		if cfg.JWTAnyAudience {
			log.Warn().Msg("CHATTOKEN_JWT_ANY_AUDIENCE=true: a token the identity provider issued for any other API is accepted here; set CHATTOKEN_JWT_AUDIENCE instead")
		}
		src, err := session.NewJWT(ctx, session.JWTOptions{
			JWKSURL:     cfg.JWTJWKSURL,
			Issuer:      cfg.JWTIssuer,
			Audience:    cfg.JWTAudience,
			AnyAudience: cfg.JWTAnyAudience,
			Types:       cfg.JWTTypes,
			Algorithms:  cfg.JWTAlgorithms,
			Leeway:      cfg.JWTLeeway,
			Header:      cfg.JWTHeader,
			Cookie:      cfg.JWTCookie,
			OnRefreshError: func(url string, err error) {
				log.Error().Err(err).Str("jwks_url", url).Msg("refreshing the identity provider's keys failed; the previous keys stay in use")
			},
		})
		if err != nil {
			return nil, err
		}
		log.Info().Str("jwks_url", src.JWKSURL()).Msg("identity provider keys loaded")
		return src, nil
	case config.ModeHeader:
		return session.NewHeader(cfg.TrustedProxies, cfg.Subject, cfg.HeaderSubject, cfg.HeaderClaims), nil
	default:
		return session.NewIntrospect(session.IntrospectOptions{
			URL:           cfg.IntrospectURL,
			Timeout:       cfg.IntrospectTimeout,
			Headers:       cfg.IntrospectHeaders,
			CacheTTL:      cfg.IntrospectCacheTTL,
			CacheSize:     cfg.IntrospectCacheSize,
			CacheBytes:    cfg.IntrospectCacheBytes,
			Keep:          sessionPaths(claims),
			MaxConcurrent: cfg.IntrospectConcurrency,
			OnUpstream: func(outcome string, d time.Duration) {
				m.UpstreamDuration.WithLabelValues(outcome).Observe(d.Seconds())
			},
			OnCache:       func(result string) { m.CacheLookups.WithLabelValues(result).Inc() },
			WrapTransport: wrapTransport,
		}), nil
	}
}

// sessionPaths lists every path claims reads from a session document: the
// subject, the identity claims and the session context variables. Nothing
// else of a document needs to be kept.
func sessionPaths(claims token.Assembler) []jsondoc.Path {
	paths := []jsondoc.Path{claims.Subject}
	for _, c := range claims.Identity {
		paths = append(paths, c.Path)
	}
	for _, v := range claims.Context.Variables() {
		if v.Source == lwicontext.SourceSession {
			paths = append(paths, v.Field)
		}
	}
	return paths
}

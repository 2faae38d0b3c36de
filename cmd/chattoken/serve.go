package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/httpapi"
	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/metrics"
	"github.com/chattoken/chattoken/internal/ratelimit"
	"github.com/chattoken/chattoken/internal/session"
	"github.com/chattoken/chattoken/internal/token"
)

// drainTimeout bounds how long in-flight requests may take to finish after
// the listener closes. The slowest request is bounded by the introspection
// timeout (at most config.MaxIntrospectTimeout), so this is enough.
const drainTimeout = 10 * time.Second

// tokenReuseSize bounds the remembered tokens (about 1 KiB each); with the
// session cache's default it keeps peak memory under 40 MiB under load.
const tokenReuseSize = 5_000

// keyCheckInterval is how often the key files are compared with what is
// loaded; a changed key is in use within this (and well within 10s).
const keyCheckInterval = 2 * time.Second

// reloadOnSIGHUP reloads the keys on every SIGHUP until ctx ends. It
// subscribes before returning, so a SIGHUP sent once the service has said it
// listens can never fall back to the default action (ending the process).
func reloadOnSIGHUP(ctx context.Context, store *keys.Store) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		reloadOn(ctx, hup, store)
	}()
}

func reloadOn(ctx context.Context, hup <-chan os.Signal, store *keys.Store) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = store.Reload("SIGHUP")
		}
	}
}

func runServe(ctx context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if helped, err := parseFlags(fs, args, env, 0); helped || err != nil {
		return err
	}
	cfg, err := config.Load(ctx, env.getenv)
	if err != nil {
		return err
	}
	log := zerolog.New(env.stderr).Level(cfg.LogLevel).With().Timestamp().Logger()
	s, err := newSigning(cfg, log)
	if err != nil {
		return err
	}
	m := metrics.New(func() time.Duration {
		if w := s.store.Current().SignerWritten; !w.IsZero() {
			return time.Since(w)
		}
		return 0
	})
	s.store.OnReload(func(err error) {
		result := "success"
		if err != nil {
			result = "failure"
		}
		m.KeyReloads.WithLabelValues(result).Inc()
	})
	trace, err := newTracing(ctx, env.getenv, cfg.TrustedProxies)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = trace.shutdown(flushCtx)
	}()
	sessions, err := newSessionSource(ctx, cfg, log, m, trace, s.claims)
	if err != nil {
		return err
	}
	subjectLimit, addressLimit, closeLimits, err := newLimiters(cfg, m)
	if err != nil {
		return err
	}
	defer closeLimits()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	if cfg.MetricsAddr != config.MetricsOff {
		if err := serveMetrics(ctx, log, cfg.MetricsAddr, m); err != nil {
			_ = ln.Close()
			return err
		}
	}
	go s.store.Watch(ctx, keyCheckInterval)
	reloadOnSIGHUP(ctx, s.store)
	return serveAPI(ctx, log, ln, cfg.ShutdownDelay, httpapi.Deps{
		Sessions:     sessions,
		Minter:       s.minter,
		Keys:         s.store.Current,
		Claims:       s.claims,
		CORSOrigins:  cfg.CORSOrigins,
		Trusted:      cfg.TrustedProxies,
		SubjectLimit: subjectLimit,
		AddressLimit: addressLimit,
		Metrics:      m,
	}, trace.handler, log.Info().Str("alg", cfg.SigningAlg).Str("signer", keys.RS256Signer).Str("session_mode", cfg.SessionMode))
}

// newLimiters returns the per-subject and per-address limiters (nil when
// off), counted in Redis when CHATTOKEN_REDIS_URL is set so that limits hold
// across replicas, and a function releasing them. A URL Redis cannot use is
// a configuration error: counting in each process instead would quietly
// multiply the limit by the number of replicas. An outage is different:
// while Redis cannot be reached each replica counts on its own, which beats
// no limit, and m says which backend every limit counts in.
func newLimiters(cfg *config.Config, m *metrics.Metrics) (subject, address ratelimit.Limiter, closeFn func(), err error) {
	closeFn = func() {}
	var rdb *redis.Client
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			// The library's message may repeat the URL and its password.
			return nil, nil, nil, config.Errorf("REDIS_URL", "is not a valid Redis URL")
		}
		// A slow or absent Redis must not slow minting: limits then count
		// in this process, so one quick attempt is all a request waits for.
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 200*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
		opt.PoolTimeout = 200 * time.Millisecond
		opt.MaxRetries, opt.DialerRetries = -1, 1
		// Failures are logged by the HTTP layer, throttled and as JSON; the
		// library's own plain-text lines would repeat them.
		redis.SetLogger(quietRedisLog{})
		rdb = redis.NewClient(opt)
		closeFn = func() { _ = rdb.Close() }
	}
	// The HTTP layer prefixes every key with its kind (sub:, ip:).
	build := func(name string, perMinute int) ratelimit.Limiter {
		switch {
		case perMinute == 0:
			return nil
		case rdb != nil:
			m.SetRateLimitBackend(name, ratelimit.BackendRedis)
			// Asking a dead Redis again once a second finds it back soon
			// and delays at most one request a second by the dial timeout.
			return ratelimit.NewFallback(ratelimit.NewRedis(rdb, perMinute, "chattoken:rl:"), ratelimit.NewLocal(perMinute),
				time.Second, func(backend string) { m.SetRateLimitBackend(name, backend) })
		default:
			m.SetRateLimitBackend(name, ratelimit.BackendLocal)
			return ratelimit.NewLocal(perMinute)
		}
	}
	return build("subject", cfg.RateLimitSubject), build("address", cfg.RateLimitIP), closeFn, nil
}

// newSessionSource builds the Source of the configured session mode; claims
// tells what the tokens read from a session document.
func newSessionSource(ctx context.Context, cfg *config.Config, log zerolog.Logger, m *metrics.Metrics, trace tracing, claims token.Assembler) (session.Source, error) {
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
			WrapTransport: trace.transport,
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

// signing is what minting a token needs, built from the configuration.
type signing struct {
	store  *keys.Store
	minter *token.Minter
	claims token.Assembler
}

// newSigning loads the keys and the context schema and signs one token as a
// self-test. Every failure names the variable at fault.
func newSigning(cfg *config.Config, log zerolog.Logger) (*signing, error) {
	store, err := keys.NewStore(cfg.SigningKeyFile, cfg.SigningAlg, cfg.AllowWorldReadableKey, cfg.TokenTTL, log)
	if err != nil {
		return nil, config.Errorf("SIGNING_KEY_FILE", "%v", err)
	}
	minter := &token.Minter{
		Issuer:    cfg.Issuer,
		TTL:       cfg.TokenTTL,
		ClockSkew: cfg.ClockSkew,
		Keys:      store.Current,
		Now:       time.Now,
	}
	if err := minter.SelfTest(); err != nil {
		return nil, config.Errorf("SIGNING_KEY_FILE", "%v", err)
	}
	if cfg.TokenReuse {
		minter.Reuse = token.NewReuse(tokenReuseSize, cfg.TokenTTL)
	}
	schema := lwicontext.Empty()
	if cfg.ContextFile != "" {
		if schema, err = lwicontext.Load(cfg.ContextFile, cfg.MaxContextBytes); err != nil {
			return nil, config.Errorf("CONTEXT_FILE", "%v", err)
		}
	}
	return &signing{
		store:  store,
		minter: minter,
		claims: token.Assembler{Subject: cfg.Subject, Identity: cfg.IdentityClaims, Context: schema},
	}, nil
}

// serveAPI serves the HTTP API on ln until ctx ends. The listening line
// carries the fields of summary, then the address, kid and schema size.
func serveAPI(ctx context.Context, log zerolog.Logger, ln net.Listener, shutdownDelay time.Duration, deps httpapi.Deps, wrap func(http.Handler) http.Handler, summary *zerolog.Event) error {
	var ready atomic.Bool
	deps.Log, deps.Ready = log, &ready
	handler := wrap(httpapi.NewServer(deps))
	ready.Store(true)
	summary.
		Str("addr", ln.Addr().String()).
		Str("kid", deps.Keys().Signer.KID).
		Int("context_variables", len(deps.Claims.Context.Variables())).
		Strs("cors_origins", deps.CORSOrigins).
		Msg("listening")
	return serveUntilDone(ctx, log, newHTTPServer(handler, log), ln, &ready, shutdownDelay)
}

// newHTTPServer bounds every phase of a request, so a slow or idle client
// cannot hold a connection open forever.
func newHTTPServer(h http.Handler, log zerolog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// Longer than the slowest token request (the introspection timeout
		// is at most 8s), so its answer is never cut off.
		WriteTimeout:   15 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       stdlog.New(log.With().Str("component", "http").Logger(), "", 0),
	}
}

// serveUntilDone serves until ctx ends, then shuts down in the order a load
// balancer needs: /readyz turns 503 at once, serving goes on for delay so the
// balancer notices, then the listener closes and in-flight requests finish.
func serveUntilDone(ctx context.Context, log zerolog.Logger, srv *http.Server, ln net.Listener, ready *atomic.Bool, delay time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	ready.Store(false)
	log.Info().Dur("delay", delay).Msg("shutdown begun: /readyz answers 503")
	time.Sleep(delay)

	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("in-flight requests did not finish within %s: %w", drainTimeout, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info().Msg("stopped")
	return nil
}

// quietRedisLog discards go-redis's own log lines.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

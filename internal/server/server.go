// Package server runs chattoken's listeners: the HTTP server settings, the
// metrics listener beside the public one, the key reloads while serving,
// and the shutdown in the order a load balancer needs. Every goroutine it
// starts has ended by the time Run returns.
package server

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/chattoken/chattoken/internal/keys"
)

// drainTimeout bounds how long in-flight requests may take to finish after
// the listener closes. The slowest request is bounded by the introspection
// timeout (at most config.MaxIntrospectTimeout), so this is enough.
const drainTimeout = 10 * time.Second

// keyCheckInterval is how often the key files are compared with what is
// loaded; a changed key is in use within this (and well within 10s).
const keyCheckInterval = 2 * time.Second

// metricsIdleTimeout is how long the metrics listener keeps an idle
// connection open: within 15s, as the operations section promises.
const metricsIdleTimeout = 10 * time.Second

// Config says where and how to serve.
type Config struct {
	// Addr is the public listener's address.
	Addr string
	// Metrics, when set, is served at GET /metrics on MetricsAddr, a
	// listener of its own: it is never routed on the public one.
	Metrics     http.Handler
	MetricsAddr string
	// ShutdownDelay is how long serving goes on, with /readyz answering
	// 503, once shutdown has begun.
	ShutdownDelay time.Duration
	// Keys, when set, are reloaded on SIGHUP and whenever their files
	// change.
	Keys *keys.Store
	Log  zerolog.Logger
}

// Server holds the open listeners until Run serves on them.
type Server struct {
	cfg     Config
	api     net.Listener
	metrics net.Listener // nil without Config.Metrics
	ready   atomic.Bool
}

// Listen opens the listeners of cfg. The caller must Run or Close the
// server.
func Listen(cfg Config) (*Server, error) {
	api, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, api: api}
	if cfg.Metrics != nil {
		if s.metrics, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = api.Close()
			return nil, fmt.Errorf("metrics listener on %s: %w", cfg.MetricsAddr, err)
		}
		cfg.Log.Info().Str("addr", s.metrics.Addr().String()).Msg("metrics listening")
	}
	return s, nil
}

// Addr is the public listener's address, with the port chosen when the
// configured one is 0.
func (s *Server) Addr() net.Addr { return s.api.Addr() }

// Ready is true from the moment Run serves until shutdown begins: what
// /readyz answers.
func (s *Server) Ready() *atomic.Bool { return &s.ready }

// Close closes the listeners of a server that will not Run.
func (s *Server) Close() error {
	err := s.api.Close()
	if s.metrics != nil {
		err = errors.Join(err, s.metrics.Close())
	}
	return err
}

// Run serves h on the public listener until ctx ends, then shuts down:
// /readyz turns 503 at once, serving goes on for the shutdown delay so that
// a load balancer notices, then the public listener closes and in-flight
// requests finish; only then does the metrics listener close, so that the
// whole shutdown can be watched. The listening line carries the fields of
// listening and the address.
func (s *Server) Run(ctx context.Context, h http.Handler, listening *zerolog.Event) error {
	api := newHTTPServer(h, s.cfg.Log)
	var metrics *http.Server
	if s.metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.cfg.Metrics)
		// The same bounds as the public listener, but an idle connection
		// is closed sooner: a scraper reconnects every interval at little
		// cost, and whoever else reaches this port cannot park
		// connections on it.
		metrics = newHTTPServer(mux, s.cfg.Log)
		metrics.IdleTimeout = metricsIdleTimeout
	}
	// Subscribed before the listening line, so that a SIGHUP sent once the
	// service has said it listens never falls back to the default action
	// (ending the process).
	hup := make(chan os.Signal, 1)
	if s.cfg.Keys != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	s.ready.Store(true)
	listening.Str("addr", s.Addr().String()).Msg("listening")

	// serving ends when ctx does or when the public listener fails; the
	// key reloads stop with it.
	g, serving := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := api.Serve(s.api); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving: %w", err)
		}
		return nil
	})
	if metrics != nil {
		g.Go(func() error {
			// A broken metrics listener is no reason to stop minting.
			if err := metrics.Serve(s.metrics); !errors.Is(err, http.ErrServerClosed) {
				s.cfg.Log.Error().Err(err).Msg("metrics listener stopped")
			}
			return nil
		})
	}
	if s.cfg.Keys != nil {
		g.Go(func() error {
			s.cfg.Keys.Watch(serving, keyCheckInterval)
			return nil
		})
		g.Go(func() error {
			for {
				select {
				case <-serving.Done():
					return nil
				case <-hup:
					_ = s.cfg.Keys.Reload("SIGHUP")
				}
			}
		})
	}
	g.Go(func() error {
		<-serving.Done()
		return s.shutdown(ctx.Err() != nil, api, metrics)
	})
	return g.Wait()
}

// shutdown stops api, after the shutdown delay when the process was asked
// to stop (signalled), and then metrics.
func (s *Server) shutdown(signalled bool, api, metrics *http.Server) error {
	log := s.cfg.Log
	s.ready.Store(false)
	if metrics != nil {
		defer func() {
			closeCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			defer cancel()
			if metrics.Shutdown(closeCtx) != nil {
				_ = metrics.Close()
			}
		}()
	}
	if signalled {
		log.Info().Dur("delay", s.cfg.ShutdownDelay).Msg("shutdown begun: /readyz answers 503")
		time.Sleep(s.cfg.ShutdownDelay)
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := api.Shutdown(drainCtx); err != nil {
		_ = api.Close()
		return fmt.Errorf("in-flight requests did not finish within %s: %w", drainTimeout, err)
	}
	if signalled {
		log.Info().Msg("stopped")
	}
	return nil
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

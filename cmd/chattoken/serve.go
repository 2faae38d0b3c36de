package main

import (
	"context"
	"flag"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/server"
	"github.com/chattoken/chattoken/internal/service"
)

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
	svc, err := service.New(ctx, cfg, env.getenv, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	listen := server.Config{Addr: cfg.Addr, ShutdownDelay: cfg.ShutdownDelay, Keys: svc.Store, Log: log}
	if cfg.MetricsAddr != config.MetricsOff {
		listen.Metrics, listen.MetricsAddr = svc.Metrics.Handler(), cfg.MetricsAddr
	}
	srv, err := server.Listen(listen)
	if err != nil {
		return err
	}
	return srv.Run(ctx, svc.Handler(srv.Ready()), log.Info().Str("alg", cfg.SigningAlg).Str("signer", keys.RS256Signer).
		Str("session_mode", cfg.SessionMode).Str("kid", svc.Store.Current().Signer.KID).
		Int("context_variables", len(svc.Claims.Context.Variables())).Strs("cors_origins", cfg.CORSOrigins))
}

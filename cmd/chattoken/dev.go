package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/devmode"
	"github.com/chattoken/chattoken/internal/httpapi"
	"github.com/chattoken/chattoken/internal/server"
)

// runDev runs the service with no configuration at all (see devmode). It
// listens on loopback only, because anyone who can reach it can sign in as
// anyone.
func runDev(ctx context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	if helped, err := parseFlags(fs, args, env, 0); helped || err != nil {
		return err
	}
	addr, err := devmode.Addr(env.getenv("CHATTOKEN_ADDR"))
	if err != nil {
		return err
	}
	log := zerolog.New(env.stderr).With().Timestamp().Logger()
	srv, err := server.Listen(server.Config{Addr: addr, Log: log})
	if err != nil {
		return err
	}
	base := "http://" + srv.Addr().String()
	deps, err := devmode.Deps(base)
	if err != nil {
		_ = srv.Close()
		return err
	}
	deps.Log, deps.Ready = log, srv.Ready()
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	handler := devmode.Handler(devmode.NewStore(), port, httpapi.NewServer(deps))

	log.Warn().Msg("DEV MODE: ephemeral signing key, demo sign-in that trusts anyone, not for production")
	fmt.Fprintf(env.stdout, "chattoken dev: open %s/ in a browser\n"+
		"  DEV MODE - the key changes at every start and anyone can sign in as anyone: not for production.\n", base)
	return srv.Run(ctx, handler, log.Info().Str("alg", "RS256").Str("session_mode", "dev").
		Str("kid", deps.Keys().Signer.KID).Int("context_variables", len(deps.Claims.Context.Variables())))
}

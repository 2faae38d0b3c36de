package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/devsite"
	"github.com/chattoken/chattoken/internal/httpapi"
	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/session"
	"github.com/chattoken/chattoken/internal/token"
)

const devDefaultAddr = "127.0.0.1:8080"

// runDev runs the service with no configuration at all: an ephemeral key, a
// demo sign-in standing in for the site, the demo context schema, and a page
// at / that fetches a token the way the widget does. It listens on loopback
// only, because anyone who can reach it can sign in as anyone.
func runDev(ctx context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	if helped, err := parseFlags(fs, args, env, 0); helped || err != nil {
		return err
	}
	addr, err := devAddr(env.getenv("CHATTOKEN_ADDR"))
	if err != nil {
		return err
	}
	log := zerolog.New(env.stderr).With().Timestamp().Logger()

	key, err := keys.GenerateRSA(2048)
	if err != nil {
		return fmt.Errorf("generating the ephemeral key: %w", err)
	}
	set, err := keys.NewRSASet(key)
	if err != nil {
		return err
	}
	schema, err := lwicontext.Parse([]byte(devsite.Schema), lwicontext.DefaultMaxBytes)
	if err != nil {
		return fmt.Errorf("the demo context schema: %w", err)
	}
	identity, err := jsondoc.ParseClaims(devsite.IdentityClaims)
	if err != nil {
		return fmt.Errorf("the demo identity claims: %w", err)
	}
	subject, _ := jsondoc.ParsePath("sub")

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	base := "http://" + ln.Addr().String()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	minter := &token.Minter{
		Issuer:    base,
		TTL:       15 * time.Minute,
		ClockSkew: 30 * time.Second,
		Keys:      func() *keys.Set { return set },
		Now:       time.Now,
	}
	if err := minter.SelfTest(); err != nil {
		_ = ln.Close()
		return err
	}

	log.Warn().Msg("DEV MODE: ephemeral signing key, demo sign-in that trusts anyone, not for production")
	fmt.Fprintf(env.stdout, "chattoken dev: open %s/ in a browser\n"+
		"  DEV MODE - the key changes at every start and anyone can sign in as anyone: not for production.\n", base)
	return serveAPI(ctx, log, ln, 0, httpapi.Deps{
		// The demo site is asked who is signed in exactly as a real site
		// would be: over HTTP, with the browser's cookie.
		// No cache, so that signing out on the page takes effect at once.
		Sessions: session.NewIntrospect(session.IntrospectOptions{URL: base + "/dev/whoami", Timeout: 2 * time.Second}),
		Minter:   minter,
		Keys:     minter.Keys,
		Claims:   token.Assembler{Subject: subject, Identity: identity, Context: schema},
		Dev:      devsite.NewStore(),
	}, httpapi.DevHostGuard(port), log.Info().Str("alg", "RS256").Str("session_mode", "dev"))
}

// devAddr applies CHATTOKEN_ADDR to dev mode: the port may change, the host
// must be loopback (an empty host means 127.0.0.1).
func devAddr(addr string) (string, error) {
	if addr == "" {
		return devDefaultAddr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", config.Errorf("ADDR", "must be host:port or :port")
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case host == "localhost", ip != nil && ip.IsLoopback():
	default:
		return "", config.Errorf("ADDR", "dev mode listens on loopback only (127.0.0.1, ::1 or localhost); got host %q", host)
	}
	return net.JoinHostPort(host, port), nil
}

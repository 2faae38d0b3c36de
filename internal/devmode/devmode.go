// Package devmode is `chattoken dev`: the service with no configuration at
// all, for a first look. It holds the demo site (an in-memory sign-in and a
// demo context schema), the page that fetches a token the way the widget
// does, their handlers, and the guard that keeps other sites away. Its
// handler sits in front of the production one, which knows nothing of it.
// Anyone who reaches it can sign in as anyone: nothing here is meant for
// production.
package devmode

import (
	"fmt"
	"net"
	"time"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/httpapi"
	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/session"
	"github.com/chattoken/chattoken/internal/token"
)

// DefaultAddr is where dev mode listens unless CHATTOKEN_ADDR says otherwise.
const DefaultAddr = "127.0.0.1:8080"

// Addr applies CHATTOKEN_ADDR (addr) to dev mode: the port may change, the
// host must be loopback (an empty host means 127.0.0.1).
func Addr(addr string) (string, error) {
	if addr == "" {
		return DefaultAddr, nil
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

// Deps is what the production handler needs in dev mode, for a service
// reached at base (http://host:port): an ephemeral key, the demo schema and
// identity claims, and the demo site, asked who is signed in exactly as a
// real site would be (over HTTP, with the browser's cookie). The caller adds
// the logger and the readiness flag.
func Deps(base string) (httpapi.Deps, error) {
	key, err := keys.GenerateRSA(2048)
	if err != nil {
		return httpapi.Deps{}, fmt.Errorf("generating the ephemeral key: %w", err)
	}
	set, err := keys.NewRSASet(key)
	if err != nil {
		return httpapi.Deps{}, err
	}
	schema, err := lwicontext.Parse([]byte(Schema), lwicontext.DefaultMaxBytes)
	if err != nil {
		return httpapi.Deps{}, fmt.Errorf("the demo context schema: %w", err)
	}
	identity, err := jsondoc.ParseClaims(IdentityClaims)
	if err != nil {
		return httpapi.Deps{}, fmt.Errorf("the demo identity claims: %w", err)
	}
	subject, err := jsondoc.ParsePath("sub")
	if err != nil {
		return httpapi.Deps{}, fmt.Errorf("the demo subject: %w", err)
	}
	minter := &token.Minter{
		Issuer:    base,
		TTL:       15 * time.Minute,
		ClockSkew: 30 * time.Second,
		Keys:      func() *keys.Set { return set },
		Now:       time.Now,
	}
	if err := minter.SelfTest(); err != nil {
		return httpapi.Deps{}, err
	}
	return httpapi.Deps{
		// No cache, so that signing out on the page takes effect at once.
		Sessions: session.NewIntrospect(session.IntrospectOptions{URL: base + whoAmIPath, Timeout: 2 * time.Second}),
		Minter:   minter,
		Keys:     minter.Keys,
		Claims:   token.Assembler{Subject: subject, SubjectGUID: true, Identity: identity, Context: schema},
	}, nil
}

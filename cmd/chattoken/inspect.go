package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/chattoken/chattoken/internal/inspect"
)

// errChecksFailed makes inspect exit 1 once it has printed its findings.
var errChecksFailed = errors.New("inspect: the token does not pass every check (see the FAIL and SKIP lines)")

// runInspect decodes a token and checks it against what Omnichannel
// requires, one line per check: the tool to run when the widget reports
// lcw:error 4, "Auth token provider provided invalid token". Each failure
// names the widget error it causes.
func runInspect(ctx context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	publicKey := fs.String("publickey", "", "the public key URL (or a file of what it serves): one PEM, or Omnichannel's key array")
	jwks := fs.String("jwks", "", "a JWKS URL or file")
	if helped, err := parseFlags(fs, args, env, 1); helped || err != nil {
		return err
	}
	tokenArg := fs.Arg(0)
	if tokenArg == "" {
		return &usageError{msg: "inspect: give the token after the flags, or - to read it from stdin"}
	}
	raw := tokenArg
	if tokenArg == "-" {
		data, err := io.ReadAll(io.LimitReader(env.stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("inspect: reading stdin: %w", err)
		}
		raw = string(data)
	}

	var sources []inspect.KeySource
	for _, s := range []struct {
		location string
		parse    func(string, []byte) (inspect.KeySource, error)
	}{{*publicKey, inspect.ParsePublicKeyURLBody}, {*jwks, inspect.ParseJWKS}} {
		if s.location == "" {
			continue
		}
		data, err := fetch(ctx, s.location)
		if err != nil {
			return fmt.Errorf("inspect: %s: %w", s.location, err)
		}
		src, err := s.parse(s.location, data)
		if err != nil {
			return fmt.Errorf("inspect: %s: %w", s.location, err)
		}
		sources = append(sources, src)
	}

	findings := inspect.Check(raw, sources, time.Now())
	for _, f := range findings {
		fmt.Fprintln(env.stdout, f.Line())
	}
	if !inspect.OK(findings) {
		return errChecksFailed
	}
	return nil
}

// fetch reads a URL (http or https) or a file.
func fetch(ctx context.Context, location string) ([]byte, error) {
	if !strings.HasPrefix(location, "http://") && !strings.HasPrefix(location, "https://") {
		return os.ReadFile(location)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

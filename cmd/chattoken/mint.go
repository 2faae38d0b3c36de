package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/service"
)

// runMint signs one token with the configured key and schema, for a manual
// test against Omnichannel. It goes through the same claims assembly as the
// HTTP API, so what it prints is what /token would answer.
func runMint(ctx context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("mint", flag.ContinueOnError)
	sub := fs.String("sub", "", "the subject (required): the customer's stable id, such as the Dataverse contact GUID")
	contextJSON := fs.String("context", "", `request context variables, a JSON object as the POST body's "context" member`)
	sessionJSON := fs.String("session", "", "a session document (JSON object) to read session variables and identity claims from")
	widget := fs.String("widget", "", "the widget whose context schema applies, as ?widget= names it (default: the schema file's default)")
	if helped, err := parseFlags(fs, args, env, 0); helped || err != nil {
		return err
	}
	if *sub == "" {
		return &usageError{msg: "mint: --sub is required"}
	}
	cfg, err := config.LoadMinting(ctx, env.getenv)
	if err != nil {
		return err
	}
	log := zerolog.New(env.stderr).Level(cfg.LogLevel).With().Timestamp().Logger()
	s, err := service.NewSigning(cfg, log)
	if err != nil {
		return err
	}

	doc := jsondoc.Document{}
	if *sessionJSON != "" {
		if doc, err = decodeObject[jsondoc.Document](*sessionJSON); err != nil {
			return &usageError{msg: "mint: --session: " + err.Error()}
		}
	}
	doc.Set(s.Claims.Subject, *sub)
	var requestContext map[string]json.RawMessage
	if *contextJSON != "" {
		if requestContext, err = decodeObject[map[string]json.RawMessage](*contextJSON); err != nil {
			return &usageError{msg: "mint: --context: " + err.Error()}
		}
	}
	schema, err := s.Claims.Context.Lookup(*widget)
	if err != nil {
		return &usageError{msg: "mint: --widget: " + err.Error()}
	}
	rv, err := schema.CheckRequest(requestContext)
	if err != nil {
		return &usageError{msg: "mint: --context: " + err.Error()}
	}
	req, err := s.Claims.Request(doc, schema, rv)
	if err != nil {
		return &usageError{msg: "mint: " + err.Error()}
	}
	tok, err := s.Minter.Mint(req)
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	fmt.Fprintln(env.stdout, tok.Raw)
	return nil
}

// decodeObject decodes a JSON object given on the command line, keeping
// numbers exact.
func decodeObject[T any](text string) (T, error) {
	var v T
	if t := bytes.TrimSpace([]byte(text)); len(t) == 0 || t[0] != '{' {
		return v, fmt.Errorf("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("not a JSON object: %v", err)
	}
	if dec.More() {
		return v, fmt.Errorf("trailing data after the JSON object")
	}
	return v, nil
}

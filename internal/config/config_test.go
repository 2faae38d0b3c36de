package config

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// validEnv is a complete, valid configuration; each test row changes one
// variable of it.
func validEnv() map[string]string {
	return map[string]string{
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE": "/keys/signing.pem",
		"CHATTOKEN_INTROSPECT_URL":   "https://shop.example/api/me",
	}
}

// jwtEnv is a complete jwt mode (issuer and audience) with the variables
// in kv, key then value, added or replaced.
func jwtEnv(kv ...string) map[string]string {
	env := map[string]string{
		"CHATTOKEN_SESSION_MODE": "jwt",
		"CHATTOKEN_JWT_ISSUER":   "https://id.example",
		"CHATTOKEN_JWT_AUDIENCE": "chat",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func load(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	return Load(context.Background(), func(k string) string { return env[k] })
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, validEnv())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Addr", cfg.Addr, ":8080"},
		{"TokenTTL", cfg.TokenTTL, 15 * time.Minute},
		{"ClockSkew", cfg.ClockSkew, 30 * time.Second},
		{"SigningAlg", cfg.SigningAlg, AlgRS256},
		{"SessionMode", cfg.SessionMode, ModeIntrospect},
		{"IntrospectTimeout", cfg.IntrospectTimeout, 2 * time.Second},
		{"Subject", cfg.Subject.String(), "sub"},
		{"IdentityClaims", len(cfg.IdentityClaims), 0},
		{"ShutdownDelay", cfg.ShutdownDelay, time.Duration(0)},
		{"LogLevel", cfg.LogLevel, zerolog.InfoLevel},
		{"RateLimitSubject", cfg.RateLimitSubject, 60},
		{"RateLimitIP", cfg.RateLimitIP, 0},
		{"MetricsAddr", cfg.MetricsAddr, ":9090"},
		{"IntrospectConcurrency", cfg.IntrospectConcurrency, 256},
		{"ContextFile", cfg.ContextFile, ""},
		{"MaxContextBytes", cfg.MaxContextBytes, 4096},
		{"CORSOrigins", len(cfg.CORSOrigins), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadParsesValues(t *testing.T) {
	t.Parallel()
	env := validEnv()
	env["CHATTOKEN_IDENTITY_CLAIMS"] = "email=email, given_name=profile.first_name"
	env["CHATTOKEN_SUBJECT_FIELD"] = "user.contact_id"
	env["CHATTOKEN_SIGNING_ALG"] = "HS256"
	env["CHATTOKEN_TOKEN_TTL"] = "1h"
	env["CHATTOKEN_CLOCK_SKEW"] = "0s"
	env["CHATTOKEN_LOG_LEVEL"] = "WARN"
	env["CHATTOKEN_CORS_ORIGINS"] = "https://Shop.example, http://127.0.0.1:3000/"
	env["CHATTOKEN_MAX_CONTEXT_BYTES"] = "6144"
	cfg, err := load(t, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := cfg.Subject.String(); got != "user.contact_id" {
		t.Errorf("Subject = %q", got)
	}
	if len(cfg.IdentityClaims) != 2 ||
		cfg.IdentityClaims[0].Name != "email" || cfg.IdentityClaims[0].Path.String() != "email" ||
		cfg.IdentityClaims[1].Name != "given_name" || cfg.IdentityClaims[1].Path.String() != "profile.first_name" {
		t.Errorf("IdentityClaims = %+v", cfg.IdentityClaims)
	}
	if strings.Join(cfg.CORSOrigins, " ") != "https://shop.example http://127.0.0.1:3000" || cfg.MaxContextBytes != 6144 {
		t.Errorf("CORSOrigins %q MaxContextBytes %d", cfg.CORSOrigins, cfg.MaxContextBytes)
	}
	if cfg.TokenTTL != time.Hour || cfg.ClockSkew != 0 || cfg.SigningAlg != AlgHS256 || cfg.LogLevel != zerolog.WarnLevel {
		t.Errorf("parsed %+v", cfg)
	}
}

// TestLoadRefusals has one row per rule: each names the variable it expects
// in the one-line error and a fragment of the reason.
func TestLoadRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		set        map[string]string
		wantVar    string
		wantReason string
	}{
		{"issuer missing", map[string]string{"CHATTOKEN_ISSUER": ""}, "CHATTOKEN_ISSUER", "is required"},
		{"issuer blank", map[string]string{"CHATTOKEN_ISSUER": "   "}, "CHATTOKEN_ISSUER", "is required"},
		{"key file missing", map[string]string{"CHATTOKEN_SIGNING_KEY_FILE": ""}, "CHATTOKEN_SIGNING_KEY_FILE", "is required"},
		{"addr without port", map[string]string{"CHATTOKEN_ADDR": "localhost"}, "CHATTOKEN_ADDR", "host:port"},
		{"ttl not a duration", map[string]string{"CHATTOKEN_TOKEN_TTL": "fifteen"}, "CHATTOKEN_TOKEN_TTL", "not a valid duration"},
		{"ttl too short", map[string]string{"CHATTOKEN_TOKEN_TTL": "59s"}, "CHATTOKEN_TOKEN_TTL", "between 1m0s and 24h0m0s"},
		{"ttl too long", map[string]string{"CHATTOKEN_TOKEN_TTL": "25h"}, "CHATTOKEN_TOKEN_TTL", "between 1m0s and 24h0m0s"},
		{"ttl fractional", map[string]string{"CHATTOKEN_TOKEN_TTL": "90.5s"}, "CHATTOKEN_TOKEN_TTL", "whole number of seconds"},
		{"skew negative", map[string]string{"CHATTOKEN_CLOCK_SKEW": "-1s"}, "CHATTOKEN_CLOCK_SKEW", "between 0s and 5m0s"},
		{"skew too long", map[string]string{"CHATTOKEN_CLOCK_SKEW": "6m"}, "CHATTOKEN_CLOCK_SKEW", "between 0s and 5m0s"},
		{"skew not a duration", map[string]string{"CHATTOKEN_CLOCK_SKEW": "30"}, "CHATTOKEN_CLOCK_SKEW", "not a valid duration"},
		{"alg none", map[string]string{"CHATTOKEN_SIGNING_ALG": "none"}, "CHATTOKEN_SIGNING_ALG", "RS256"},
		{"alg lowercase", map[string]string{"CHATTOKEN_SIGNING_ALG": "rs256"}, "CHATTOKEN_SIGNING_ALG", "RS256"},
		{"unknown session mode", map[string]string{"CHATTOKEN_SESSION_MODE": "magic"}, "CHATTOKEN_SESSION_MODE", "introspect, jwt or header"},
		{"introspect url missing", map[string]string{"CHATTOKEN_INTROSPECT_URL": ""}, "CHATTOKEN_INTROSPECT_URL", "is required"},
		{"introspect url relative", map[string]string{"CHATTOKEN_INTROSPECT_URL": "/api/me"}, "CHATTOKEN_INTROSPECT_URL", "absolute http or https"},
		{"introspect url other scheme", map[string]string{"CHATTOKEN_INTROSPECT_URL": "ftp://shop.example/me"}, "CHATTOKEN_INTROSPECT_URL", "absolute http or https"},
		{"introspect timeout zero", map[string]string{"CHATTOKEN_INTROSPECT_TIMEOUT": "0s"}, "CHATTOKEN_INTROSPECT_TIMEOUT", "at most 8s"},
		{"introspect timeout past the widget budget", map[string]string{"CHATTOKEN_INTROSPECT_TIMEOUT": "9s"}, "CHATTOKEN_INTROSPECT_TIMEOUT", "at most 8s"},
		{"subject field empty segment", map[string]string{"CHATTOKEN_SUBJECT_FIELD": "user..id"}, "CHATTOKEN_SUBJECT_FIELD", "empty segment"},
		{"identity claim without path", map[string]string{"CHATTOKEN_IDENTITY_CLAIMS": "email"}, "CHATTOKEN_IDENTITY_CLAIMS", "not claim=path"},
		{"identity claim with empty path", map[string]string{"CHATTOKEN_IDENTITY_CLAIMS": "email="}, "CHATTOKEN_IDENTITY_CLAIMS", "path is empty"},
		{"identity claim overriding sub", map[string]string{"CHATTOKEN_IDENTITY_CLAIMS": "sub=user.id"}, "CHATTOKEN_IDENTITY_CLAIMS", "set by chattoken itself"},
		{"identity claim overriding exp", map[string]string{"CHATTOKEN_IDENTITY_CLAIMS": "email=email,exp=expiry"}, "CHATTOKEN_IDENTITY_CLAIMS", "set by chattoken itself"},
		{"identity claim twice", map[string]string{"CHATTOKEN_IDENTITY_CLAIMS": "email=email,email=mail"}, "CHATTOKEN_IDENTITY_CLAIMS", "listed twice"},
		{"unknown subject format", map[string]string{"CHATTOKEN_SUBJECT_FORMAT": "uuid"}, "CHATTOKEN_SUBJECT_FORMAT", "must be any or guid"},
		{"shutdown delay too long", map[string]string{"CHATTOKEN_SHUTDOWN_DELAY": "31s"}, "CHATTOKEN_SHUTDOWN_DELAY", "between 0s and 30s"},
		{"shutdown delay negative", map[string]string{"CHATTOKEN_SHUTDOWN_DELAY": "-1s"}, "CHATTOKEN_SHUTDOWN_DELAY", "between 0s and 30s"},
		{"max context bytes over 6144", map[string]string{"CHATTOKEN_MAX_CONTEXT_BYTES": "6145"}, "CHATTOKEN_MAX_CONTEXT_BYTES", "between 2 and 6144"},
		{"max context bytes zero", map[string]string{"CHATTOKEN_MAX_CONTEXT_BYTES": "0"}, "CHATTOKEN_MAX_CONTEXT_BYTES", "between 2 and 6144"},
		{"max context bytes not a number", map[string]string{"CHATTOKEN_MAX_CONTEXT_BYTES": "4k"}, "CHATTOKEN_MAX_CONTEXT_BYTES", "not a valid int"},
		{"cors wildcard", map[string]string{"CHATTOKEN_CORS_ORIGINS": "*"}, "CHATTOKEN_CORS_ORIGINS", "wildcards are refused"},
		{"cors wildcard subdomain", map[string]string{"CHATTOKEN_CORS_ORIGINS": "https://shop.example,https://*.shop.example"}, "CHATTOKEN_CORS_ORIGINS", "wildcards are refused"},
		{"cors origin with path", map[string]string{"CHATTOKEN_CORS_ORIGINS": "https://shop.example/cart"}, "CHATTOKEN_CORS_ORIGINS", "not an origin"},
		{"cors origin without scheme", map[string]string{"CHATTOKEN_CORS_ORIGINS": "shop.example"}, "CHATTOKEN_CORS_ORIGINS", "not an origin"},
		{"jwt mode without issuer", map[string]string{"CHATTOKEN_SESSION_MODE": "jwt", "CHATTOKEN_JWT_JWKS_URL": "https://id.example/jwks", "CHATTOKEN_JWT_AUDIENCE": "chat"}, "CHATTOKEN_JWT_ISSUER", "is required in jwt mode"},
		{"jwt mode without audience", map[string]string{"CHATTOKEN_SESSION_MODE": "jwt", "CHATTOKEN_JWT_ISSUER": "https://id.example"}, "CHATTOKEN_JWT_AUDIENCE", "is required in jwt mode"},
		{"jwt mode with an audience and any audience", map[string]string{"CHATTOKEN_SESSION_MODE": "jwt", "CHATTOKEN_JWT_ISSUER": "https://id.example", "CHATTOKEN_JWT_AUDIENCE": "chat", "CHATTOKEN_JWT_ANY_AUDIENCE": "true"}, "CHATTOKEN_JWT_ANY_AUDIENCE", "set one of them"},
		{"jwt any audience not a bool", map[string]string{"CHATTOKEN_SESSION_MODE": "jwt", "CHATTOKEN_JWT_ISSUER": "https://id.example", "CHATTOKEN_JWT_ANY_AUDIENCE": "sure"}, "CHATTOKEN_JWT_ANY_AUDIENCE", "not a valid bool"},
		{"jwt mode with a relative JWKS URL", map[string]string{"CHATTOKEN_SESSION_MODE": "jwt", "CHATTOKEN_JWT_ISSUER": "https://id.example", "CHATTOKEN_JWT_AUDIENCE": "chat", "CHATTOKEN_JWT_JWKS_URL": "/jwks"}, "CHATTOKEN_JWT_JWKS_URL", "absolute"},
		{"jwt mode with a relative issuer", map[string]string{"CHATTOKEN_SESSION_MODE": "jwt", "CHATTOKEN_JWT_ISSUER": "id.example", "CHATTOKEN_JWT_AUDIENCE": "chat"}, "CHATTOKEN_JWT_ISSUER", "absolute"},
		{"jwt mode allowing none", jwtEnv("CHATTOKEN_JWT_ALGORITHMS", "RS256,none"), "CHATTOKEN_JWT_ALGORITHMS", `"none" is refused`},
		{"jwt mode allowing HMAC", jwtEnv("CHATTOKEN_JWT_ALGORITHMS", "HS256"), "CHATTOKEN_JWT_ALGORITHMS", `"HS256" is refused`},
		{"jwt leeway too long", jwtEnv("CHATTOKEN_JWT_LEEWAY", "10m"), "CHATTOKEN_JWT_LEEWAY", "between 0s and 5m"},
		{"jwt type not a media type", jwtEnv("CHATTOKEN_JWT_TYPES", "JWT,at jwt"), "CHATTOKEN_JWT_TYPES", `"at jwt" is not a media type`},
		{"jwt type with parameters", jwtEnv("CHATTOKEN_JWT_TYPES", "application/jwt;q=1"), "CHATTOKEN_JWT_TYPES", "not a media type"},
		{"jwt types empty", jwtEnv("CHATTOKEN_JWT_TYPES", " , "), "CHATTOKEN_JWT_TYPES", "at least one"},
		{"jwt header invalid", jwtEnv("CHATTOKEN_JWT_HEADER", "X Pomerium"), "CHATTOKEN_JWT_HEADER", "not a header name"},
		{"jwt header and cookie", jwtEnv("CHATTOKEN_JWT_HEADER", "X-Pomerium-Jwt-Assertion", "CHATTOKEN_JWT_COOKIE", "id_token"), "CHATTOKEN_JWT_COOKIE", "cannot be combined with CHATTOKEN_JWT_HEADER"},
		{"header mode without subject header", map[string]string{"CHATTOKEN_SESSION_MODE": "header", "CHATTOKEN_TRUSTED_PROXIES": "10.0.0.0/8"}, "CHATTOKEN_HEADER_SUBJECT", "is required"},
		{"header mode without trusted proxies", map[string]string{"CHATTOKEN_SESSION_MODE": "header", "CHATTOKEN_HEADER_SUBJECT": "X-User"}, "CHATTOKEN_TRUSTED_PROXIES", "is required in header mode"},
		{"bad CIDR", map[string]string{"CHATTOKEN_TRUSTED_PROXIES": "10.0.0.0/33"}, "CHATTOKEN_TRUSTED_PROXIES", "not a CIDR"},
		{"bad header claim", map[string]string{"CHATTOKEN_SESSION_MODE": "header", "CHATTOKEN_HEADER_SUBJECT": "X-User", "CHATTOKEN_TRUSTED_PROXIES": "10.0.0.1", "CHATTOKEN_HEADER_CLAIMS": "email"}, "CHATTOKEN_HEADER_CLAIMS", "path=Header-Name"},
		{"introspect cache TTL negative", map[string]string{"CHATTOKEN_INTROSPECT_CACHE_TTL": "-1s"}, "CHATTOKEN_INTROSPECT_CACHE_TTL", "between 0s"},
		{"introspect headers empty", map[string]string{"CHATTOKEN_INTROSPECT_HEADERS": " , "}, "CHATTOKEN_INTROSPECT_HEADERS", "at least one"},
		{"introspect header invalid", map[string]string{"CHATTOKEN_INTROSPECT_HEADERS": "Cookie,Bad Header"}, "CHATTOKEN_INTROSPECT_HEADERS", "not a header name"},
		{"negative subject limit", map[string]string{"CHATTOKEN_RATE_LIMIT_SUBJECT": "-1"}, "CHATTOKEN_RATE_LIMIT_SUBJECT", "0 (off)"},
		{"negative address limit", map[string]string{"CHATTOKEN_RATE_LIMIT_IP": "-5"}, "CHATTOKEN_RATE_LIMIT_IP", "0 (off)"},
		{"address limit not a number", map[string]string{"CHATTOKEN_RATE_LIMIT_IP": "lots"}, "CHATTOKEN_RATE_LIMIT_IP", "not a valid int"},
		{"concurrency zero", map[string]string{"CHATTOKEN_INTROSPECT_CONCURRENCY": "0"}, "CHATTOKEN_INTROSPECT_CONCURRENCY", "between 1"},
		{"redis URL of another scheme", map[string]string{"CHATTOKEN_REDIS_URL": "http://user:s3cret@cache:6379"}, "CHATTOKEN_REDIS_URL", "redis://"},
		{"metrics address bad", map[string]string{"CHATTOKEN_METRICS_ADDR": "9090"}, "CHATTOKEN_METRICS_ADDR", "host:port"},
		{"metrics on the public listener", map[string]string{"CHATTOKEN_METRICS_ADDR": ":8080"}, "CHATTOKEN_METRICS_ADDR", "must differ"},
		{"log level unknown", map[string]string{"CHATTOKEN_LOG_LEVEL": "loud"}, "CHATTOKEN_LOG_LEVEL", "must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := validEnv()
			for k, v := range tt.set {
				env[k] = v
			}
			_, err := load(t, env)
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load error = %v, want a *config.Error", err)
			}
			if cfgErr.Var != tt.wantVar {
				t.Errorf("Var = %q, want %q (error %q)", cfgErr.Var, tt.wantVar, err)
			}
			if !strings.Contains(cfgErr.Reason, tt.wantReason) {
				t.Errorf("Reason = %q, want it to contain %q", cfgErr.Reason, tt.wantReason)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, tt.wantVar+": ") {
				t.Errorf("error %q is not one line starting with the variable", msg)
			}
		})
	}
}

// TestLoadNeverEchoesTheIntrospectURL guards against printing credentials
// that an operator put in the URL.
func TestLoadNeverEchoesTheIntrospectURL(t *testing.T) {
	t.Parallel()
	env := validEnv()
	env["CHATTOKEN_INTROSPECT_URL"] = "ftp://user:hunter2@shop.example/me"
	_, err := load(t, env)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v: want a refusal that does not repeat the URL", err)
	}
}

func TestLoadMintingNeedsNoSessionSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE": "/keys/k.pem",
		"CHATTOKEN_SESSION_MODE":     "not-checked-for-minting",
	}
	if _, err := LoadMinting(context.Background(), func(k string) string { return env[k] }); err != nil {
		t.Fatalf("LoadMinting: %v", err)
	}
	env["CHATTOKEN_TOKEN_TTL"] = "30s"
	if _, err := LoadMinting(context.Background(), func(k string) string { return env[k] }); err == nil {
		t.Error("LoadMinting accepted a TTL under a minute")
	}
}

func TestLoadSessionModes(t *testing.T) {
	t.Parallel()
	env := validEnv()
	env["CHATTOKEN_SESSION_MODE"] = "header"
	env["CHATTOKEN_HEADER_SUBJECT"] = "x-auth-request-user"
	env["CHATTOKEN_HEADER_CLAIMS"] = "email=X-Auth-Request-Email, profile.name=X-Auth-Request-Preferred-Username"
	env["CHATTOKEN_TRUSTED_PROXIES"] = "10.0.0.0/8,127.0.0.1"
	cfg, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.HeaderClaims) != 2 || cfg.HeaderClaims[1].Path.String() != "profile.name" ||
		cfg.HeaderClaims[1].Name != "X-Auth-Request-Preferred-Username" || cfg.TrustedProxies.Empty() {
		t.Errorf("header mode parsed %+v", cfg.HeaderClaims)
	}

	env = validEnv()
	for k, v := range jwtEnv("CHATTOKEN_JWT_JWKS_URL", "https://id.example/jwks") {
		env[k] = v
	}
	cfg, err = load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.JWTAlgorithms, ",") != "RS256,ES256" || cfg.JWTLeeway != 30*time.Second ||
		strings.Join(cfg.JWTTypes, ",") != "JWT,at+jwt,application/at+jwt" || cfg.JWTHeader != "" || cfg.JWTAnyAudience {
		t.Errorf("jwt defaults %v %s %v %q %v", cfg.JWTAlgorithms, cfg.JWTLeeway, cfg.JWTTypes, cfg.JWTHeader, cfg.JWTAnyAudience)
	}
	delete(env, "CHATTOKEN_JWT_AUDIENCE")
	env["CHATTOKEN_JWT_ANY_AUDIENCE"] = "true"
	env["CHATTOKEN_JWT_HEADER"] = "X-Pomerium-Jwt-Assertion"
	env["CHATTOKEN_JWT_TYPES"] = "at+jwt, JWT"
	if cfg, err = load(t, env); err != nil {
		t.Fatal(err)
	}
	if !cfg.JWTAnyAudience || cfg.JWTHeader != "X-Pomerium-Jwt-Assertion" || strings.Join(cfg.JWTTypes, ",") != "at+jwt,JWT" {
		t.Errorf("jwt mode parsed any audience %v, header %q, types %v", cfg.JWTAnyAudience, cfg.JWTHeader, cfg.JWTTypes)
	}
	if strings.Join(cfg.IntrospectHeaders, ",") != "" {
		t.Errorf("introspect headers parsed outside introspect mode: %v", cfg.IntrospectHeaders)
	}
}

// TestChecksAreIndependent runs the checks of complete configurations of
// every session mode in several orders, each twice over: the result is the
// same, so no check depends on another having run, and none builds on what
// an earlier run left.
func TestChecksAreIndependent(t *testing.T) {
	t.Parallel()
	header := validEnv()
	header["CHATTOKEN_SESSION_MODE"] = "header"
	header["CHATTOKEN_HEADER_SUBJECT"] = "X-Auth-Request-User"
	header["CHATTOKEN_HEADER_CLAIMS"] = "mail=X-Auth-Request-Email"
	header["CHATTOKEN_TRUSTED_PROXIES"] = "10.0.4.21"
	jwt := jwtEnv("CHATTOKEN_JWT_JWKS_URL", "https://id.example/jwks", "CHATTOKEN_JWT_TYPES", "JWT,at+jwt")
	for k, v := range validEnv() {
		jwt[k] = v
	}
	introspect := validEnv()
	introspect["CHATTOKEN_CORS_ORIGINS"] = "https://shop.example,https://www.shop.example"
	introspect["CHATTOKEN_IDENTITY_CLAIMS"] = "email=email"
	for name, env := range map[string]map[string]string{"introspect": introspect, "jwt": jwt, "header": header} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := load(t, env)
			if err != nil {
				t.Fatal(err)
			}
			n := len(want.serveChecks())
			orders := [][]int{}
			for shift := range n {
				order := make([]int, n)
				for i := range order {
					order[i] = (i + shift) % n
				}
				orders = append(orders, order, reversed(order))
			}
			for _, order := range orders {
				got := rawOnly(want)
				checks := got.serveChecks()
				for range 2 {
					for _, i := range order {
						if err := checks[i](); err != nil {
							t.Fatalf("order %v: check %d: %v", order, i, err)
						}
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("order %v, run twice more, gives\n%+v\nwant\n%+v", order, got, want)
				}
			}
		})
	}
}

// rawOnly is a copy of c with only the values read from the environment
// (the fields with an env tag): what the checks start from.
func rawOnly(c *Config) *Config {
	var raw Config
	src, dst := reflect.ValueOf(c).Elem(), reflect.ValueOf(&raw).Elem()
	for i := range src.NumField() {
		if src.Type().Field(i).Tag.Get("env") != "" {
			dst.Field(i).Set(src.Field(i))
		}
	}
	return &raw
}

func reversed(s []int) []int {
	r := make([]int, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

package integration

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// rsaEnv is a complete RS256 configuration against upstream.
func rsaEnv(t *testing.T, upstream *harness.SessionUpstream) (map[string]string, *rsa.PrivateKey) {
	t.Helper()
	key, path := harness.WriteRSAKey(t)
	return map[string]string{
		"CHATTOKEN_ISSUER":             "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE":   path,
		"CHATTOKEN_INTROSPECT_URL":     upstream.URL + "/api/me",
		"CHATTOKEN_INTROSPECT_TIMEOUT": "1s",
		"CHATTOKEN_SUBJECT_FIELD":      "contact.id",
		"CHATTOKEN_IDENTITY_CLAIMS":    "email=contact.email,given_name=contact.first_name",
		"CHATTOKEN_TOKEN_TTL":          "10m",
		"CHATTOKEN_CLOCK_SKEW":         "45s",
	}, key
}

// publishedKeys fetches the public key the way Omnichannel does (PEM) and
// the way other verifiers do (JWKS), independently of each other.
func publishedKeys(t *testing.T, base string) (fromPEM *rsa.PublicKey, fromJWKS map[string]*rsa.PublicKey) {
	t.Helper()
	resp, body := harness.Do(t, http.MethodGet, base+"/publickey", "", "", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/publickey: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("/publickey is not a PUBLIC KEY PEM: %q", body)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	fromPEM = pub.(*rsa.PublicKey)

	resp, body = harness.Do(t, http.MethodGet, base+"/.well-known/jwks.json", "", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jwks: %d", resp.StatusCode)
	}
	var jwks struct {
		Keys []struct{ Kty, Kid, Use, Alg, N, E string } `json:"keys"`
	}
	if err := json.Unmarshal(body, &jwks); err != nil {
		t.Fatal(err)
	}
	fromJWKS = map[string]*rsa.PublicKey{}
	for _, k := range jwks.Keys {
		if k.Kty != "RSA" || k.Use != "sig" || k.Alg != "RS256" || k.Kid == "" {
			t.Errorf("JWKS entry %+v", k)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			t.Fatalf("JWKS n/e not base64url: %v %v", err1, err2)
		}
		fromJWKS[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return fromPEM, fromJWKS
}

func TestMintedTokensVerifyAgainstPublishedKeys(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"contact":{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","email":"ann@shop.example","first_name":"Ann","phone":{"n":1}}}`)
	env, key := rsaEnv(t, upstream)
	svc := harness.Start(t, env)

	fromPEM, fromJWKS := publishedKeys(t, svc.URL)
	if !key.PublicKey.Equal(fromPEM) {
		t.Fatal("/publickey does not publish the signing key")
	}

	before := time.Now().Unix()
	resp, body := harness.Do(t, http.MethodGet, svc.URL+"/token", "ann", "", "")
	after := time.Now().Unix()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/token: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	var answer struct {
		Token     string `json:"token"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatal(err)
	}

	for name, verifyKey := range map[string]func(*jwt.Token) (any, error){
		"PEM": func(*jwt.Token) (any, error) { return fromPEM, nil },
		"JWKS": func(tok *jwt.Token) (any, error) {
			kid, _ := tok.Header["kid"].(string)
			if k, ok := fromJWKS[kid]; ok {
				return k, nil
			}
			return nil, jwt.ErrTokenUnverifiable
		},
	} {
		t.Run("verified with "+name, func(t *testing.T) {
			claims := jwt.MapClaims{}
			tok, err := jwt.ParseWithClaims(answer.Token, claims, verifyKey,
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("https://shop.example"),
				jwt.WithIssuedAt(), jwt.WithExpirationRequired())
			if err != nil {
				t.Fatalf("token does not verify: %v", err)
			}
			if tok.Header["typ"] != "JWT" || tok.Header["alg"] != "RS256" {
				t.Errorf("header %v", tok.Header)
			}
			if _, ok := fromJWKS[tok.Header["kid"].(string)]; !ok {
				t.Errorf("kid %v is not in the JWKS", tok.Header["kid"])
			}
			iat := int64(claims["iat"].(float64))
			if iat < before || iat > after {
				t.Errorf("iat %d outside [%d, %d]", iat, before, after)
			}
			want := map[string]any{
				"sub":        "0f8fad5b-d9cb-469f-a165-70867728950e",
				"iss":        "https://shop.example",
				"nbf":        float64(iat - 45),
				"exp":        float64(iat + 600),
				"email":      "ann@shop.example",
				"given_name": "Ann",
			}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %#v, want %#v", k, claims[k], v)
				}
			}
			jti, _ := claims["jti"].(string)
			if raw, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(raw) != 16 {
				t.Errorf("jti %q is not 128 bits base64url", jti)
			}
			if _, has := claims["lwicontexts"]; has {
				t.Error("lwicontexts present without a context schema")
			}
			if len(claims) != len(want)+2 { // + iat and jti
				t.Errorf("unexpected claims: %v", claims)
			}
			if answer.ExpiresIn < 599 || answer.ExpiresIn > 600 {
				t.Errorf("expires_in = %d", answer.ExpiresIn)
			}
		})
	}

	// The upstream saw the session cookie and nothing it should not.
	reqs := upstream.Received()
	last := reqs[len(reqs)-1]
	if last.Method != http.MethodGet || last.URL.Path != "/api/me" || last.Header.Get("Cookie") != "session=ann" {
		t.Errorf("upstream got %s %s cookie %q", last.Method, last.URL.Path, last.Header.Get("Cookie"))
	}

	// The access log names the token without containing it or the cookie.
	logs := svc.Logs(`"sub":"0f8fad5b-d9cb-469f-a165-70867728950e"`, `"route":"/token"`)
	if !strings.Contains(logs, `"sub":"0f8fad5b-d9cb-469f-a165-70867728950e"`) || !strings.Contains(logs, `"route":"/token"`) {
		t.Errorf("access log lacks the minted token's line:\n%s", logs)
	}
	if strings.Contains(logs, answer.Token[:40]) || strings.Contains(logs, "session=ann") {
		t.Errorf("the log leaks a token or cookie:\n%s", logs)
	}
}

func TestErrorAnswersOfTheBinary(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"contact":{"id":"c-ann"}}`)
	upstream.AddSession("nosub", `{"contact":{"email":"x@shop.example"}}`)
	upstream.AddSession("numsub", `{"contact":{"id":12}}`)
	upstream.AddSession("notjson", `<html>`)
	env, _ := rsaEnv(t, upstream)
	svc := harness.Start(t, env)

	tests := []struct {
		name, method, path, cookie, contentType, body string
		status                                        int
		code                                          string
	}{
		{"no session cookie", "GET", "/token", "", "", "", 401, "unauthenticated"},
		{"unknown session (upstream redirects)", "GET", "/token", "stranger", "", "", 401, "unauthenticated"},
		{"upstream 500", "GET", "/token", "upstream-500", "", "", 503, "session_unavailable"},
		{"upstream not JSON", "GET", "/token", "notjson", "", "", 503, "session_unavailable"},
		{"upstream hangs past the timeout", "GET", "/token", "upstream-hangs", "", "", 503, "session_unavailable"},
		{"document without subject", "GET", "/token", "nosub", "", "", 502, "invalid_session_document"},
		{"numeric subject", "GET", "/token", "numsub", "", "", 502, "invalid_session_document"},
		{"malformed JSON body", "POST", "/token", "ann", "application/json", `{"context":`, 400, "invalid_request"},
		{"context without a schema", "POST", "/token", "ann", "application/json", `{"context":{"msdyn_pageurl":"x"}}`, 400, "invalid_context"},
		{"body over 16 KiB", "POST", "/token", "ann", "application/json", `{"context":{"a":"` + strings.Repeat("x", 17<<10) + `"}}`, 413, "payload_too_large"},
		{"not JSON", "POST", "/token", "ann", "text/plain", "hello", 415, "unsupported_media_type"},
		{"wrong method", "PUT", "/token", "ann", "", "", 405, "method_not_allowed"},
		{"unknown route", "GET", "/tokens", "ann", "", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			resp, body := harness.Do(t, tt.method, svc.URL+tt.path, tt.cookie, tt.contentType, tt.body)
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("answered after %s; the introspection timeout is 1s", elapsed)
			}
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s %s, want %d problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status)
			}
			var p struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != tt.status || p.Code != tt.code || p.Title == "" || p.Detail == "" {
				t.Errorf("problem %+v, want status %d code %s", p, tt.status, tt.code)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "GET, HEAD, POST, OPTIONS" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestHS256(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"sub":"c-ann"}`)
	secret := strings.Repeat("0123456789abcdef", 3)
	svc := harness.Start(t, map[string]string{
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_ALG":      "HS256",
		"CHATTOKEN_SIGNING_KEY_FILE": harness.WriteFile(t, "secret", []byte(secret+"\n")),
		"CHATTOKEN_INTROSPECT_URL":   upstream.URL,
	})
	for _, path := range []string{"/publickey", "/.well-known/jwks.json"} {
		if resp, body := harness.Do(t, http.MethodGet, svc.URL+path, "", "", ""); resp.StatusCode != http.StatusNotFound ||
			!strings.Contains(string(body), `"code":"not_found"`) {
			t.Errorf("%s: %d %s, want 404 not_found", path, resp.StatusCode, body)
		}
	}
	resp, body := harness.Do(t, http.MethodPost, svc.URL+"/token", "ann", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/token: %d %s", resp.StatusCode, body)
	}
	var answer struct{ Token string }
	_ = json.Unmarshal(body, &answer)
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(answer.Token, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatalf("HS256 token does not verify with the secret (newline trimmed): %v", err)
	}
	if _, has := tok.Header["kid"]; has || claims["sub"] != "c-ann" {
		t.Errorf("header %v claims %v", tok.Header, claims)
	}
}

// TestBadConfigurationExits2 starts the binary with one mistake per row and
// expects exit status 2 and exactly one line naming the variable.
func TestBadConfigurationExits2(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	_, goodKey := harness.WriteRSAKey(t)
	_, worldReadable := harness.WriteRSAKey(t)
	if err := os.Chmod(worldReadable, 0o644); err != nil {
		t.Fatal(err)
	}
	weak := harness.WriteFile(t, "weak.pem", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	base := func() map[string]string {
		return map[string]string{
			"CHATTOKEN_ISSUER":           "https://shop.example",
			"CHATTOKEN_SIGNING_KEY_FILE": goodKey,
			"CHATTOKEN_INTROSPECT_URL":   upstream.URL,
		}
	}
	tests := []struct {
		name, key, value, wantVar string
	}{
		{"issuer missing", "CHATTOKEN_ISSUER", "", "CHATTOKEN_ISSUER"},
		{"ttl out of range", "CHATTOKEN_TOKEN_TTL", "48h", "CHATTOKEN_TOKEN_TTL"},
		{"bad duration", "CHATTOKEN_CLOCK_SKEW", "soon", "CHATTOKEN_CLOCK_SKEW"},
		{"unknown algorithm", "CHATTOKEN_SIGNING_ALG", "none", "CHATTOKEN_SIGNING_ALG"},
		{"key file absent", "CHATTOKEN_SIGNING_KEY_FILE", "/nonexistent/key.pem", "CHATTOKEN_SIGNING_KEY_FILE"},
		{"public key instead of private", "CHATTOKEN_SIGNING_KEY_FILE", weak, "CHATTOKEN_SIGNING_KEY_FILE"},
		{"introspect URL missing", "CHATTOKEN_INTROSPECT_URL", "", "CHATTOKEN_INTROSPECT_URL"},
		{"unknown session mode", "CHATTOKEN_SESSION_MODE", "cookie", "CHATTOKEN_SESSION_MODE"},
		{"world-readable key", "CHATTOKEN_SIGNING_KEY_FILE", worldReadable, "CHATTOKEN_SIGNING_KEY_FILE"},
		{"Redis URL Redis cannot use", "CHATTOKEN_REDIS_URL", "redis://user:s3cret@127.0.0.1:6379/not-a-db", "CHATTOKEN_REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := base()
			env[tt.key] = tt.value
			line := harness.RequireConfigError(t, env, tt.wantVar)
			if strings.Contains(line, "PRIVATE KEY") || strings.Contains(line, "s3cret") {
				t.Errorf("the error holds key material or a password: %q", line)
			}
		})
	}
}

func TestHelpListsCommands(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(harness.Binary, "--help").Output()
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, cmd := range []string{"serve", "keygen"} {
		if !strings.Contains(string(out), cmd) {
			t.Errorf("--help does not list %s:\n%s", cmd, out)
		}
	}
	cmd := exec.Command(harness.Binary, "frobnicate")
	_ = cmd.Run()
	if cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("an unknown command exits %d, want 2", cmd.ProcessState.ExitCode())
	}
}

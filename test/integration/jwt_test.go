package integration

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// The issuer and audience the identity provider below puts in its tokens.
const (
	idpIssuer   = "https://login.shop.example"
	idpAudience = "chat-auth"
	idpKID      = "idp-1"
)

// idp is an identity provider as jwt mode sees it: a JWKS with one ES256
// key generated for the test, and tokens signed with that key.
type idp struct {
	key     *ecdsa.PrivateKey
	JWKSURL string
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: idpKID, ALG: jwkset.AlgES256, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	set := jwkset.NewMemoryStorage()
	if err := set.KeyWrite(context.Background(), jwk); err != nil {
		t.Fatal(err)
	}
	jwks, err := set.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	return &idp{key: key, JWKSURL: srv.URL + "/jwks"}
}

// token signs a token for c-ann of idpIssuer for idpAudience, valid for
// five minutes, with claims and header parameters changed as given: a
// nil value removes one. Its header is alg ES256, kid and typ JWT.
func (p *idp) token(t *testing.T, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	all := jwt.MapClaims{"iss": idpIssuer, "aud": idpAudience, "sub": "c-ann", "iat": now, "exp": now + 300}
	for k, v := range claims {
		all[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, all)
	tok.Header["kid"] = idpKID
	for k, v := range header {
		tok.Header[k] = v
	}
	for _, m := range []map[string]any{all, tok.Header} {
		for k, v := range m {
			if v == nil {
				delete(m, k)
			}
		}
	}
	raw, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// jwtEnv configures jwt mode against p with its JWKS URL, issuer and
// audience, then applies change: an empty value removes a variable.
func jwtEnv(t *testing.T, p *idp, change map[string]string) map[string]string {
	t.Helper()
	_, key := harness.WriteRSAKey(t)
	env := map[string]string{
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE": key,
		"CHATTOKEN_SESSION_MODE":     "jwt",
		"CHATTOKEN_JWT_JWKS_URL":     p.JWKSURL,
		"CHATTOKEN_JWT_ISSUER":       idpIssuer,
		"CHATTOKEN_JWT_AUDIENCE":     idpAudience,
	}
	for k, v := range change {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

// askWith sends GET /token with headers (name, then value) and returns the
// status and the problem code of a refusal.
func askWith(t *testing.T, svc *harness.Service, headers ...string) (status int, code string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, svc.URL+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, body := harness.Send(t, req)
	var problem struct{ Code string }
	_ = json.Unmarshal(body, &problem)
	return resp.StatusCode, problem.Code, body
}

// TestJWTConfigurationRefused: jwt mode starts only when it knows whose
// tokens, for which API, it accepts, and where they travel.
func TestJWTConfigurationRefused(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	for _, tt := range []struct {
		name    string
		change  map[string]string
		wantVar string
	}{
		{"no issuer, keys at a JWKS URL", map[string]string{"CHATTOKEN_JWT_ISSUER": ""}, "CHATTOKEN_JWT_ISSUER"},
		{"no audience", map[string]string{"CHATTOKEN_JWT_AUDIENCE": ""}, "CHATTOKEN_JWT_AUDIENCE"},
		{"a type that is not a media type", map[string]string{"CHATTOKEN_JWT_TYPES": "JWT,at jwt"}, "CHATTOKEN_JWT_TYPES"},
		{"a header name with a space", map[string]string{"CHATTOKEN_JWT_HEADER": "X Jwt Assertion"}, "CHATTOKEN_JWT_HEADER"},
		{"a header and a cookie", map[string]string{"CHATTOKEN_JWT_HEADER": "X-Pomerium-Jwt-Assertion", "CHATTOKEN_JWT_COOKIE": "id_token"}, "CHATTOKEN_JWT_COOKIE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			harness.RequireConfigError(t, jwtEnv(t, p, tt.change), tt.wantVar)
		})
	}
}

// TestJWTAnyAudience: without an audience, CHATTOKEN_JWT_ANY_AUDIENCE=true
// starts the service, says at start that any audience is accepted, and
// then accepts a token for another API, though still not another issuer's.
func TestJWTAnyAudience(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	svc := harness.Start(t, jwtEnv(t, p, map[string]string{"CHATTOKEN_JWT_AUDIENCE": "", "CHATTOKEN_JWT_ANY_AUDIENCE": "true"}))
	var warnings []string
	sc := bufio.NewScanner(strings.NewReader(svc.Logs()))
	for sc.Scan() {
		var line struct{ Level, Message string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Level == "warn" && strings.Contains(line.Message, "CHATTOKEN_JWT_ANY_AUDIENCE") {
			warnings = append(warnings, line.Message)
		}
	}
	if len(warnings) != 1 {
		t.Errorf("%d warnings about CHATTOKEN_JWT_ANY_AUDIENCE at start, want 1:\n%s", len(warnings), svc.Logs())
	}
	if status, _, body := askWith(t, svc, "Authorization", "Bearer "+p.token(t, jwt.MapClaims{"aud": "billing-api"}, nil)); status != http.StatusOK {
		t.Errorf("a token for another audience: %d %s, want 200", status, body)
	}
	if status, code, body := askWith(t, svc, "Authorization", "Bearer "+p.token(t, jwt.MapClaims{"iss": "https://evil.example"}, nil)); status != http.StatusUnauthorized || code != "unauthenticated" {
		t.Errorf("a token of another issuer: %d %s, want 401 unauthenticated", status, body)
	}
}

// TestJWTTokensRefused: with the keys at a JWKS URL (no discovery), the
// issuer, audience and header of every token are checked. Each refused
// token differs from the accepted ones in the one way its name says.
func TestJWTTokensRefused(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	svc := harness.Start(t, jwtEnv(t, p, nil))
	now := time.Now().Unix()

	for name, tok := range map[string]string{
		"typ JWT":                p.token(t, nil, nil),
		"typ absent":             p.token(t, nil, map[string]any{"typ": nil}),
		"typ at+jwt":             p.token(t, nil, map[string]any{"typ": "at+jwt"}),
		"typ application/at+jwt": p.token(t, nil, map[string]any{"typ": "application/at+jwt"}),
		"typ AT+JWT":             p.token(t, nil, map[string]any{"typ": "AT+JWT"}),
		"iat within the leeway":  p.token(t, jwt.MapClaims{"iat": now + 10}, nil),
		"no iat":                 p.token(t, jwt.MapClaims{"iat": nil}, nil),
	} {
		if status, _, body := askWith(t, svc, "Authorization", "Bearer "+tok); status != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", name, status, body)
		}
	}

	for _, tt := range []struct {
		name, token string
		// reason is a fragment of why the log says the token was refused.
		reason string
	}{
		{"another issuer", p.token(t, jwt.MapClaims{"iss": "https://login.other.example"}, nil), "invalid issuer"},
		{"another audience", p.token(t, jwt.MapClaims{"aud": "billing-api"}, nil), "invalid audience"},
		{"no audience", p.token(t, jwt.MapClaims{"aud": nil}, nil), "aud claim is required"},
		{"crit", p.token(t, nil, map[string]any{"crit": []string{"exp"}, "exp": now + 300}), "critical extension"},
		{"typ logout+jwt", p.token(t, nil, map[string]any{"typ": "logout+jwt"}), `typ \"logout+jwt\"`},
		{"iat a minute ahead, past the 30s leeway", p.token(t, jwt.MapClaims{"iat": now + 60}, nil), "used before issued"},
	} {
		status, code, body := askWith(t, svc, "Authorization", "Bearer "+tt.token)
		if status != http.StatusUnauthorized || code != "unauthenticated" {
			t.Errorf("%s: %d %s, want 401 unauthenticated", tt.name, status, body)
		}
		if logs := svc.Logs(tt.reason); !strings.Contains(logs, tt.reason) || strings.Contains(logs, tt.token) {
			t.Errorf("%s: the log should give the reason (%s) and never the token:\n%s", tt.name, tt.reason, logs)
		}
	}
}

// TestJWTFromProxyHeader: with CHATTOKEN_JWT_HEADER, the token a proxy puts
// in that header is verified like any other, bare or as a bearer token,
// and Authorization is not looked at.
func TestJWTFromProxyHeader(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	const header = "X-Pomerium-Jwt-Assertion"
	svc := harness.Start(t, jwtEnv(t, p, map[string]string{"CHATTOKEN_JWT_HEADER": header}))
	good := p.token(t, nil, nil)
	forged := p.token(t, jwt.MapClaims{"iss": "https://login.other.example"}, nil)

	for name, headers := range map[string][]string{
		"bare":   {header, good},
		"bearer": {header, "Bearer " + good},
		"the header, and another issuer's token in Authorization": {header, good, "Authorization", "Bearer " + forged},
	} {
		if status, _, body := askWith(t, svc, headers...); status != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", name, status, body)
		}
	}
	for name, headers := range map[string][]string{
		"in Authorization only":              {"Authorization", "Bearer " + good},
		"a refused token, and Authorization": {header, forged, "Authorization", "Bearer " + good},
		"the header twice":                   {header, forged, header, good},
		"another issuer's token":             {header, forged},
	} {
		if status, code, body := askWith(t, svc, headers...); status != http.StatusUnauthorized || code != "unauthenticated" {
			t.Errorf("%s: %d %s, want 401 unauthenticated", name, status, body)
		}
	}
}

package session

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/testkeys"
)

// provider is a minimal identity provider: an OpenID configuration and a
// JWKS whose keys the test can change, counting JWKS fetches.
type provider struct {
	*httptest.Server
	mu   sync.Mutex
	jwks []byte
	// gate, while set, holds every JWKS answer until it is closed.
	gate    chan struct{}
	fetches atomic.Int32
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	p := &provider{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.URL, "jwks_uri": p.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		if gate != nil {
			<-gate
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(p.jwks)
	})
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

// publish replaces the JWKS with these keys, by kid.
func (p *provider) publish(t *testing.T, keys map[string]any) {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for kid, k := range keys {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			set.Keys = append(set.Keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
		case *ecdsa.PrivateKey:
			ecdh, err := k.PublicKey.ECDH()
			if err != nil {
				t.Fatal(err)
			}
			raw := ecdh.Bytes() // 0x04 || X || Y
			set.Keys = append(set.Keys, map[string]string{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
				"x": b64(raw[1:33]), "y": b64(raw[33:])})
		}
	}
	data, _ := json.Marshal(set)
	p.mu.Lock()
	p.jwks = data
	p.mu.Unlock()
}

func jwtTestKeys() [2]*rsa.PrivateKey { return [2]*rsa.PrivateKey{testkeys.RSA(0), testkeys.RSA(1)} }

func signToken(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	return signTokenWithHeader(t, method, key, map[string]any{"kid": kid}, claims)
}

// signTokenWithHeader signs claims with header's parameters added to alg
// and typ JWT; a nil value removes that parameter.
func signTokenWithHeader(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func bearer(raw string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	return r
}

func TestJWTSource(t *testing.T) {
	t.Parallel()
	rsaKeys := jwtTestKeys()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t)
	p.publish(t, map[string]any{"rsa-1": rsaKeys[0], "ec-1": ecKey})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	src, err := NewJWT(ctx, JWTOptions{
		Issuer: p.URL, Audience: "chat", Algorithms: []string{"RS256", "ES256"},
		Types:  []string{"JWT", "at+jwt"},
		Leeway: 30 * time.Second, Cookie: "id_token",
	})
	if err != nil {
		t.Fatal(err)
	}
	if src.JWKSURL() != p.URL+"/jwks" {
		t.Errorf("discovered %s", src.JWKSURL())
	}

	now := time.Now().Unix()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": p.URL, "aud": []string{"chat", "other"}, "sub": "c-1", "exp": now + 300, "nbf": now - 10,
			"loyalty": map[string]any{"points": 12345678901234567}}
		if change != nil {
			change(c)
		}
		return c
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKeys[0].PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	good := signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(nil))
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"rsa-1"}`)) + "." + parts[1] + "."

	withHeader := func(header map[string]any) string {
		header["kid"] = "rsa-1"
		return signTokenWithHeader(t, jwt.SigningMethodRS256, rsaKeys[0], header, claims(nil))
	}

	t.Run("accepted", func(t *testing.T) {
		for name, raw := range map[string]string{
			"RS256":                      good,
			"ES256":                      signToken(t, jwt.SigningMethodES256, ecKey, "ec-1", claims(nil)),
			"expired within leeway":      signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(func(c jwt.MapClaims) { c["exp"] = now - 5 })),
			"issued within the leeway":   signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(func(c jwt.MapClaims) { c["iat"] = now + 20 })),
			"typ absent":                 withHeader(map[string]any{"typ": nil}),
			"typ at+jwt":                 withHeader(map[string]any{"typ": "at+jwt"}),
			"typ application/at+jwt":     withHeader(map[string]any{"typ": "application/at+jwt"}),
			"typ in another letter case": withHeader(map[string]any{"typ": "AT+JWT"}),
		} {
			doc, err := src.Lookup(context.Background(), bearer(raw))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			points, _ := jsondoc.ParsePath("loyalty.points")
			if v, _ := doc.Get(points); v != json.Number("12345678901234567") || doc["sub"] != "c-1" {
				t.Errorf("%s: document %v; numbers must stay exact", name, doc)
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/token", nil)
		r.AddCookie(&http.Cookie{Name: "id_token", Value: good})
		if _, err := src.Lookup(context.Background(), r); err != nil {
			t.Errorf("token in the cookie: %v", err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for name, r := range map[string]*http.Request{
			"no token":             httptest.NewRequest(http.MethodGet, "/token", nil),
			"expired":              bearer(signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(func(c jwt.MapClaims) { c["exp"] = now - 60 }))),
			"no exp":               bearer(signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(func(c jwt.MapClaims) { delete(c, "exp") }))),
			"not yet valid":        bearer(signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(func(c jwt.MapClaims) { c["nbf"] = now + 120 }))),
			"wrong issuer":         bearer(signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))),
			"wrong audience":       bearer(signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(func(c jwt.MapClaims) { c["aud"] = "billing" }))),
			"another key":          bearer(signToken(t, jwt.SigningMethodRS256, rsaKeys[1], "rsa-1", claims(nil))),
			"alg none":             bearer(none),
			"HS256 by public key":  bearer(signToken(t, jwt.SigningMethodHS256, pubPEM, "rsa-1", claims(nil))),
			"RS384 not allowed":    bearer(signToken(t, jwt.SigningMethodRS384, rsaKeys[0], "rsa-1", claims(nil))),
			"not a JWT":            bearer("abc"),
			"basic auth":           func() *http.Request { r := bearer(""); r.Header.Set("Authorization", "Basic YTpi"); return r }(),
			"issued in the future": bearer(signToken(t, jwt.SigningMethodRS256, rsaKeys[0], "rsa-1", claims(func(c jwt.MapClaims) { c["iat"] = now + 120 }))),
			"crit":                 bearer(withHeader(map[string]any{"crit": []string{"exp"}, "exp": now + 300})),
			"empty crit":           bearer(withHeader(map[string]any{"crit": []string{}})),
			"typ logout+jwt":       bearer(withHeader(map[string]any{"typ": "logout+jwt"})),
			"typ secevent+jwt":     bearer(withHeader(map[string]any{"typ": "secevent+jwt"})),
			"typ with parameters":  bearer(withHeader(map[string]any{"typ": "application/jwt; charset=utf-8"})),
			"typ not a string":     bearer(withHeader(map[string]any{"typ": 1})),
		} {
			_, err := src.Lookup(context.Background(), r)
			if !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
			}
		}
	})

	t.Run("unknown kid refetches, at most every 5s", func(t *testing.T) {
		before := p.fetches.Load()
		p.publish(t, map[string]any{"rsa-1": rsaKeys[0], "rsa-2": rsaKeys[1]})
		rotated := signToken(t, jwt.SigningMethodRS256, rsaKeys[1], "rsa-2", claims(nil))
		if _, err := src.Lookup(context.Background(), bearer(rotated)); err != nil {
			t.Fatalf("a token by the provider's new key: %v", err)
		}
		if p.fetches.Load() != before+1 {
			t.Errorf("%d JWKS fetches for one unknown kid, want 1", p.fetches.Load()-before)
		}
		// A flood of made-up kids costs no more fetches, and no waiting.
		start := time.Now()
		for i := range 20 {
			forged := signToken(t, jwt.SigningMethodRS256, rsaKeys[1], "made-up-"+string(rune('a'+i)), claims(nil))
			if _, err := src.Lookup(context.Background(), bearer(forged)); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("unknown kid: %v", err)
			}
		}
		if p.fetches.Load() != before+1 || time.Since(start) > 2*time.Second {
			t.Errorf("unknown kids: %d fetches in %s; want none more, at once", p.fetches.Load()-before-1, time.Since(start))
		}
	})
}

func TestJWTDiscoveryRefusals(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	ctx := context.Background()
	if _, err := NewJWT(ctx, JWTOptions{Issuer: p.URL + "/other", Audience: "chat", Algorithms: []string{"RS256"}}); err == nil {
		t.Error("discovery accepted a configuration for another issuer (or a 404)")
	}
	if _, err := NewJWT(ctx, JWTOptions{Issuer: "http://127.0.0.1:1", Audience: "chat", Algorithms: []string{"RS256"}}); err == nil {
		t.Error("discovery of an unreachable issuer succeeded")
	}
}

// TestJWTFromHeader: with a header configured, the token is read from that
// header alone, bare or as a bearer token, and only from one copy of it.
func TestJWTFromHeader(t *testing.T) {
	t.Parallel()
	key := jwtTestKeys()[0]
	p := newProvider(t)
	p.publish(t, map[string]any{"rsa-1": key})
	src, err := NewJWT(t.Context(), JWTOptions{
		JWKSURL: p.URL + "/jwks", Issuer: p.URL, AnyAudience: true, Types: []string{"JWT"},
		Algorithms: []string{"RS256"}, Header: "x-pomerium-jwt-assertion",
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	raw := signToken(t, jwt.SigningMethodRS256, key, "rsa-1", jwt.MapClaims{"iss": p.URL, "aud": "any-route.shop.example", "sub": "c-1", "exp": now + 300})
	request := func(header http.Header) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/token", nil)
		r.Header = header
		return r
	}
	for name, h := range map[string]http.Header{
		"bare":   {"X-Pomerium-Jwt-Assertion": {raw}},
		"bearer": {"X-Pomerium-Jwt-Assertion": {"bearer " + raw}},
	} {
		if doc, err := src.Lookup(context.Background(), request(h)); err != nil || doc["sub"] != "c-1" {
			t.Errorf("%s: %v %v", name, doc, err)
		}
	}
	for name, h := range map[string]http.Header{
		"only in Authorization": {"Authorization": {"Bearer " + raw}},
		"twice":                 {"X-Pomerium-Jwt-Assertion": {raw, raw}},
		"empty":                 {"X-Pomerium-Jwt-Assertion": {""}},
	} {
		if _, err := src.Lookup(context.Background(), request(h)); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
}

// TestJWTHeaderRefusedBeforeKeyLookup: a token refused for its header never
// costs a JWKS download, even when it names an unknown kid.
func TestJWTHeaderRefusedBeforeKeyLookup(t *testing.T) {
	t.Parallel()
	key := jwtTestKeys()[0]
	p := newProvider(t)
	p.publish(t, map[string]any{"rsa-1": key})
	src, err := NewJWT(t.Context(), JWTOptions{JWKSURL: p.URL + "/jwks", Issuer: p.URL, Audience: "chat", Types: []string{"JWT"}, Algorithms: []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	before := p.fetches.Load()
	claims := jwt.MapClaims{"iss": p.URL, "aud": "chat", "sub": "c-1", "exp": time.Now().Unix() + 300}
	for _, header := range []map[string]any{{"kid": "unknown", "crit": []string{"b64"}}, {"kid": "unknown", "typ": "logout+jwt"}} {
		if _, err := src.Lookup(context.Background(), bearer(signTokenWithHeader(t, jwt.SigningMethodRS256, key, header, claims))); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("header %v: %v, want ErrUnauthenticated", header, err)
		}
	}
	if got := p.fetches.Load() - before; got != 0 {
		t.Errorf("tokens refused for their header caused %d JWKS fetches, want 0", got)
	}
}

// TestJWTOptionsRefused: a source that would accept any issuer, or any
// audience without saying so, is not built.
func TestJWTOptionsRefused(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.publish(t, map[string]any{"rsa-1": jwtTestKeys()[0]})
	for name, opt := range map[string]JWTOptions{
		"no issuer":         {JWKSURL: p.URL + "/jwks", Audience: "chat"},
		"no audience":       {JWKSURL: p.URL + "/jwks", Issuer: p.URL},
		"header and cookie": {JWKSURL: p.URL + "/jwks", Issuer: p.URL, Audience: "chat", Header: "X-Token", Cookie: "token"},
		"bad type":          {JWKSURL: p.URL + "/jwks", Issuer: p.URL, Audience: "chat", Types: []string{"a b"}},
	} {
		opt.Algorithms = []string{"RS256"}
		if _, err := NewJWT(t.Context(), opt); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}

// TestJWTRotationSharesTheDownload: visitors arriving under a new kid while
// its keys are being downloaded wait for that download, which they share,
// instead of being refused because the limiter allows only one.
func TestJWTRotationSharesTheDownload(t *testing.T) {
	t.Parallel()
	rsaKeys := jwtTestKeys()
	p := newProvider(t)
	p.publish(t, map[string]any{"rsa-1": rsaKeys[0]})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	src, err := NewJWT(ctx, JWTOptions{Issuer: p.URL, Audience: "chat", Algorithms: []string{"RS256"}, Types: []string{"JWT"}})
	if err != nil {
		t.Fatal(err)
	}
	before := p.fetches.Load()
	p.publish(t, map[string]any{"rsa-1": rsaKeys[0], "rsa-2": rsaKeys[1]})
	gate := make(chan struct{})
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()

	rotated := signToken(t, jwt.SigningMethodRS256, rsaKeys[1], "rsa-2", jwt.MapClaims{
		"sub": "ann", "iss": p.URL, "aud": "chat", "exp": time.Now().Add(time.Hour).Unix(),
	})
	const visitors = 4
	errs := make(chan error, visitors)
	for range visitors {
		go func() {
			_, err := src.Lookup(context.Background(), bearer(rotated))
			errs <- err
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); p.fetches.Load() == before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no visitor started downloading the keys")
		}
	}
	// The download is held: give the other visitors time to arrive during
	// it. One that arrives later still finds the new key, so a slow machine
	// cannot fail this test, only make it pass more easily.
	time.Sleep(100 * time.Millisecond)
	close(gate)
	for i := range visitors {
		if err := <-errs; err != nil {
			t.Errorf("visitor %d under the new kid: %v", i+1, err)
		}
	}
	if got := p.fetches.Load() - before; got != 1 {
		t.Errorf("%d visitors made %d JWKS fetches; want one, shared", visitors, got)
	}
}

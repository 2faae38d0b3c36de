package harness

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// IdentityProvider is the part of an OpenID provider that jwt mode talks
// to: a JWKS holding one RSA key generated for the test, served at /jwks,
// and the issuer (its URL) of the tokens Sign makes with that key.
type IdentityProvider struct {
	*httptest.Server
	key *rsa.PrivateKey
}

const idpKID = "test-key"

func NewIdentityProvider(t *testing.T) *IdentityProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": idpKID, "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	p := &IdentityProvider{key: key}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(p.Close)
	return p
}

// JWKSURL is where the provider's keys are.
func (p *IdentityProvider) JWKSURL() string { return p.URL + "/jwks" }

// Sign returns claims as a token signed by the provider (RS256, with the
// JWKS key's kid).
func (p *IdentityProvider) Sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = idpKID
	raw, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

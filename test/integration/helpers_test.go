package integration

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
	"github.com/golang-jwt/jwt/v5"
)

// verifiedClaims reads a 200 /token body and returns the claims of its
// token, which must be an RS256 token that key verifies.
func verifiedClaims(t *testing.T, body []byte, key *rsa.PublicKey) jwt.MapClaims {
	t.Helper()
	var answer struct{ Token string }
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("/token body %s: %v", body, err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(answer.Token, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"RS256"})); err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	return claims
}

// tokenClaims fetches a token for cookie and returns its verified claims.
func tokenClaims(t *testing.T, svc *harness.Service, key *rsa.PrivateKey, cookie string) jwt.MapClaims {
	t.Helper()
	resp, data := harness.Do(t, http.MethodGet, svc.URL+"/token", cookie, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/token for %s: %d %s", cookie, resp.StatusCode, data)
	}
	return verifiedClaims(t, data, &key.PublicKey)
}

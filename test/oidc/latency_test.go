package oidc

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// jwksLatency is how late the provider's JWKS answers in
// TestRotatedKeyAcceptedAtOnceAcrossLatency: a provider across a network,
// not on loopback.
const jwksLatency = 100 * time.Millisecond

// TestRotatedKeyAcceptedAtOnceAcrossLatency: the provider rotates its key
// and its JWKS answers 100ms late. The first visitors carrying tokens under
// the new kid, arriving together, must all be accepted at their first try:
// the first one to find the kid unknown downloads the keys again, and those
// arriving during that download wait for it instead of being refused. They
// cost one JWKS fetch between them.
func TestRotatedKeyAcceptedAtOnceAcrossLatency(t *testing.T) {
	t.Parallel()
	idp := startProvider(t, providerOptions{JWKSDelay: jwksLatency})
	svc := startChattoken(t, map[string]string{
		"CHATTOKEN_JWT_ISSUER":   idp.Issuer,
		"CHATTOKEN_JWT_AUDIENCE": apiAudience,
	})
	status, body := ask(t, svc, bearer(idp.Token(t, "ann", resourceAPI)), "")
	requireMinted(t, svc, status, body, "ann")

	newKID := idp.Rotate(t)
	visitors := []string{"ann", "bob-7f3a", "ann", "bob-7f3a"}
	tokens := make([]string, len(visitors))
	for i, user := range visitors {
		tokens[i] = idp.Token(t, user, resourceAPI)
		if h := decodeSegment(t, strings.Split(tokens[i], ".")[0]); h["kid"] != newKID {
			t.Fatalf("after rotation the provider signs under kid %v; want %s", h["kid"], newKID)
		}
	}
	fetches := idp.JWKSRequests(t)

	type answer struct {
		user   string
		status int
		body   []byte
		took   time.Duration
		err    error
	}
	answers := make(chan answer, len(tokens))
	for i, tok := range tokens {
		go func() {
			start := time.Now()
			status, body, err := askConcurrently(svc.URL, bearer(tok))
			answers <- answer{visitors[i], status, body, time.Since(start), err}
		}()
	}
	var took []string
	for i := range tokens {
		a := <-answers
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.status != http.StatusOK {
			t.Errorf("visitor %d under the rotated kid: %d %s after %s; want a token at the first try", i+1, a.status, a.body, a.took.Round(time.Millisecond))
		} else {
			requireMinted(t, svc, a.status, a.body, a.user)
		}
		took = append(took, a.took.Round(time.Millisecond).String())
	}
	t.Logf("with the JWKS %s away, answers came after %s", jwksLatency, strings.Join(took, ", "))
	if t.Failed() {
		t.Fatalf("chattoken's log:\n%s", svc.Logs())
	}
	if got := idp.JWKSRequests(t) - fetches; got != 1 {
		t.Errorf("%d visitors under the rotated kid made chattoken fetch the JWKS %d times; want once", len(tokens), got)
	}
}

// askConcurrently is ask for a goroutine other than the test's: it returns
// its failure instead of ending the test.
func askConcurrently(base, authorization string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/token", nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", authorization)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET /token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

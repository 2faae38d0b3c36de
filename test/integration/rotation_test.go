package integration

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/testkeys"
	"github.com/chattoken/chattoken/test/harness"
)

// minted is one token and the JWKS fetched right after it was minted.
type minted struct {
	token string
	jwks  map[string]*rsa.PublicKey
}

// TestKeyRotationUnderLoad follows the rotation procedure of docs/keys.md while a
// client fetches tokens without pause: publish the next key, make it sign,
// then remove the old key. No request may fail, and every token must verify
// against the keys published when it was minted. The old key is removed at
// once, while its tokens live, so the binary must warn about it with the
// time it last signed and the end of those tokens' lifetime; that the
// warning stops once a lifetime has passed is the key store's own test
// (TestStoreWarnsWithinATokenLifetime, on a fake clock), not waited out here.
func TestKeyRotationUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldKey := writeKeyFile(t, dir, "20261101T000000Z.pem")
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"sub":"c-ann"}`)
	svc := harness.Start(t, map[string]string{
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE": dir,
		"CHATTOKEN_INTROSPECT_URL":   upstream.URL,
		"CHATTOKEN_TOKEN_TTL":        "1m",
		"CHATTOKEN_CLOCK_SKEW":       "0s",
		// The client below asks far more often than a person would.
		"CHATTOKEN_RATE_LIMIT_SUBJECT": "0",
	})
	oldKID := kidOf(oldKey)

	// The load: one client minting and fetching the JWKS, back to back.
	ctx, stop := context.WithCancel(context.Background())
	var (
		mu       sync.Mutex
		tokens   []minted
		failures []string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 5 * time.Second}
		// Continuous but paced, and bounded in count, so the rest of the
		// suite keeps a core while the rotation goes on.
		for i := 0; ctx.Err() == nil && i < 20000; i++ {
			time.Sleep(5 * time.Millisecond)
			tok, jwks, err := mintAndFetchJWKS(client, svc.URL)
			mu.Lock()
			if err != nil {
				failures = append(failures, err.Error())
			} else {
				tokens = append(tokens, minted{tok, jwks})
			}
			mu.Unlock()
		}
	}()
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				stop()
				<-done
				t.Fatalf("%s: not within %s", what, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	published := func() map[string]*rsa.PublicKey {
		_, jwks, err := fetchJWKS(&http.Client{Timeout: 5 * time.Second}, svc.URL)
		if err != nil {
			return nil
		}
		return jwks
	}

	// 1. Publish the next key: noticed by the file watch, without a signal.
	newKey := writeKeyFile(t, dir, "20261124T120000Z.next.pem")
	newKID := kidOf(newKey)
	waitFor("the .next key is published", 10*time.Second, func() bool { return published()[newKID] != nil })
	if array := publicKeyArray(t, svc.URL); len(array) != 2 {
		t.Errorf("/publickey with two keys lists %d entries, want the array of 2", len(array))
	}

	// 2. Make it sign: rename and SIGHUP.
	if err := os.Rename(filepath.Join(dir, "20261124T120000Z.next.pem"), filepath.Join(dir, "20261124T120000Z.pem")); err != nil {
		t.Fatal(err)
	}
	if err := svc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the new key signs", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(tokens) > 0 && kidOfToken(tokens[len(tokens)-1].token) == newKID
	})

	// 3. Remove the old key while its tokens are still alive.
	if err := os.Remove(filepath.Join(dir, "20261101T000000Z.pem")); err != nil {
		t.Fatal(err)
	}
	if err := svc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the old key leaves the JWKS", 5*time.Second, func() bool {
		p := published()
		return p != nil && p[oldKID] == nil
	})
	time.Sleep(300 * time.Millisecond)
	stop()
	<-done

	// /publickey is back to one PEM: the new key.
	resp, body := harness.Do(t, http.MethodGet, svc.URL+"/publickey", "", "", "")
	block, _ := pem.Decode(body)
	if resp.StatusCode != http.StatusOK || block == nil {
		t.Fatalf("/publickey after rotation: %d %q", resp.StatusCode, body)
	}
	if pub, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil || !newKey.PublicKey.Equal(pub) {
		t.Error("/publickey does not publish only the new key")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during rotation, first: %s", len(failures), failures[0])
	}
	kids := map[string]int{}
	for i, m := range tokens {
		kid := kidOfToken(m.token)
		kids[kid]++
		key, ok := m.jwks[kid]
		if !ok {
			t.Fatalf("token %d: kid %s was not published when it was minted", i, kid)
		}
		if _, err := jwt.Parse(m.token, func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation()); err != nil {
			t.Fatalf("token %d does not verify against the keys published at the time: %v", i, err)
		}
	}
	if kids[oldKID] == 0 || kids[newKID] == 0 {
		t.Fatalf("tokens by kid: %v; want both keys to have signed", kids)
	}
	t.Logf("%d tokens during rotation: %v", len(tokens), kids)

	// The warning names the old key, when it last signed (the iat of its
	// last token) and when that token expires (one CHATTOKEN_TOKEN_TTL on).
	var lastIat int64
	for _, m := range tokens {
		if kidOfToken(m.token) == oldKID {
			lastIat = max(lastIat, int64(claimsOf(t, m.token)["iat"].(float64)))
		}
	}
	warning := logLine(t, svc.Logs("less than one token lifetime ago"), "less than one token lifetime ago")
	lastSigned, err1 := time.Parse(time.RFC3339, fmt.Sprint(warning["last_signed"]))
	validUntil, err2 := time.Parse(time.RFC3339, fmt.Sprint(warning["tokens_valid_until"]))
	switch {
	case warning["kid"] != oldKID:
		t.Errorf("the warning names kid %v, want the removed %s: %v", warning["kid"], oldKID, warning)
	case err1 != nil || err2 != nil:
		t.Errorf("the warning's times do not parse (%v, %v): %v", err1, err2, warning)
	case lastSigned.Unix() != lastIat || validUntil.Sub(lastSigned) != time.Minute:
		t.Errorf("the warning says last signed %s, tokens valid until %s; want the last old token's iat %s and one TTL (1m) later",
			lastSigned, validUntil, time.Unix(lastIat, 0))
	}
}

// logLine returns the first JSON log line of logs whose message is msg.
func logLine(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for line := range strings.SplitSeq(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.Contains(fmt.Sprint(m["message"]), msg) {
			return m
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, logs)
	return nil
}

func claimsOf(t *testing.T, raw string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func writeKeyFile(t *testing.T, dir, name string) *rsa.PrivateKey {
	t.Helper()
	key := testkeys.New()
	// Written under another name and renamed, as an operator's tooling
	// would, so the watch never sees half a key.
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, testkeys.PEM(key), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return key
}

func kidOf(key *rsa.PrivateKey) string {
	// RFC 7638, computed here independently of the service.
	e := big.NewInt(int64(key.E)).Bytes()
	canonical := `{"e":"` + base64.RawURLEncoding.EncodeToString(e) + `","kty":"RSA","n":"` +
		base64.RawURLEncoding.EncodeToString(key.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func kidOfToken(raw string) string {
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return ""
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func mintAndFetchJWKS(client *http.Client, base string) (string, map[string]*rsa.PublicKey, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/token", nil)
	req.Header.Set("Cookie", "session=ann")
	resp, err := client.Do(req)
	if err != nil {
		return "", nil, err
	}
	var answer struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&answer)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		return "", nil, &statusError{resp.StatusCode}
	}
	_, jwks, err := fetchJWKS(client, base)
	return answer.Token, jwks, err
}

func fetchJWKS(client *http.Client, base string) (int, map[string]*rsa.PublicKey, error) {
	resp, err := client.Get(base + "/.well-known/jwks.json")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, &statusError{resp.StatusCode}
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return resp.StatusCode, out, nil
}

func publicKeyArray(t *testing.T, base string) []map[string]any {
	t.Helper()
	resp, body := harness.Do(t, http.MethodGet, base+"/publickey", "", "", "")
	var array []map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &array) != nil {
		t.Fatalf("/publickey: %d %q is not the key array", resp.StatusCode, body)
	}
	return array
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "HTTP " + http.StatusText(e.status) }

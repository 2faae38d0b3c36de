package integration

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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

	"github.com/chattoken/chattoken/test/harness"
)

// minted is one token and the JWKS fetched right after it was minted.
type minted struct {
	token string
	jwks  map[string]*rsa.PublicKey
}

// TestKeyRotationUnderLoad follows the README's rotation procedure while a
// client fetches tokens without pause: publish the next key, make it sign,
// then remove the old key once its tokens have expired. No request may fail,
// and every token must verify against the keys published when it was minted.
func TestKeyRotationUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits out a token lifetime (about a minute)")
	}
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
		// suite keeps a core while this test waits out a token lifetime.
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
	switched := time.Now()
	waitFor("the new key signs", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(tokens) > 0 && kidOfToken(tokens[len(tokens)-1].token) == newKID
	})

	// 3. Remove the old key once every token it signed has expired.
	time.Sleep(time.Until(switched.Add(time.Minute + 2*time.Second)))
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
	if logs := svc.Logs(); strings.Contains(logs, "less than one token lifetime ago") {
		t.Error("removing a key whose tokens had expired was warned about")
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
		t.Errorf("tokens by kid: %v; want both keys to have signed", kids)
	}
	t.Logf("%d tokens during rotation: %v", len(tokens), kids)
}

func writeKeyFile(t *testing.T, dir, name string) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written under another name and renamed, as an operator's tooling
	// would, so the watch never sees half a key.
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
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

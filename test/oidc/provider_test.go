package oidc

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// The API chattoken's visitors' tokens are for, and another one.
const (
	apiAudience   = "https://api.chattoken.test"
	otherAudience = "https://other-api.chattoken.test"
)

// Resource indicators the providers know. Several share apiAudience: a
// token's aud is the resource's audience, its indicator only picks the
// lifetime.
const (
	resourceAPI = apiAudience
	// Tokens that expired five minutes ago: issued 10 minutes ago for 5.
	resourceExpired = apiAudience + "/expired"
	// Tokens that expired 10 seconds ago: inside a 30s leeway, outside 1s.
	resourceJustExpired = apiAudience + "/just-expired"
	// Tokens that live 1 second.
	resourceShortLived = apiAudience + "/short-lived"
	resourceOther      = otherAudience
)

var testResources = []providerResource{
	{Indicator: resourceAPI, Audience: apiAudience, TTL: 300},
	{Indicator: resourceExpired, Audience: apiAudience, TTL: 300, Age: 600},
	{Indicator: resourceJustExpired, Audience: apiAudience, TTL: 60, Age: 70},
	{Indicator: resourceShortLived, Audience: apiAudience, TTL: 1},
	{Indicator: resourceOther, Audience: otherAudience, TTL: 300},
}

// A test user is a client of the provider whose client_id is the subject.
var testUsers = []providerUser{
	{Sub: "ann", Secret: randomHex(16), Claims: map[string]any{"email": "ann@shop.example"}},
	{Sub: "bob-7f3a", Secret: randomHex(16), Claims: map[string]any{"email": "bob@shop.example"}},
}

type providerUser struct {
	Sub    string         `json:"sub"`
	Secret string         `json:"secret"`
	Claims map[string]any `json:"claims,omitempty"`
}

type providerResource struct {
	Indicator string `json:"indicator"`
	Audience  string `json:"audience"`
	TTL       int    `json:"ttl"`
	Age       int    `json:"age,omitempty"`
}

type providerConfig struct {
	Users      []providerUser     `json:"users"`
	Resources  []providerResource `json:"resources"`
	SigningKey map[string]any     `json:"signingKey,omitempty"`
	AdminToken string             `json:"adminToken"`
	// JWKSDelayMs delays the JWKS answers, like a provider across a network.
	JWKSDelayMs int `json:"jwksDelayMs,omitempty"`
}

// provider is one running provider/server.mjs.
type provider struct {
	Issuer        string `json:"issuer"`
	JWKSURI       string `json:"jwks_uri"`
	TokenEndpoint string `json:"token_endpoint"`
	KID           string `json:"kid"`
	users         map[string]providerUser
	adminToken    string
}

// providerStartTimeout bounds node's start: loading oidc-provider and
// generating a 2048-bit key take well under a second here.
const providerStartTimeout = 15 * time.Second

// requireProvider finds node and the pinned oidc-provider, skipping the
// test (failing it under CI=true) where either is missing.
func requireProvider(t *testing.T) (node, script string) {
	t.Helper()
	node = harness.RequireTool(t, "node")
	harness.RequireNPMPackage(t, "provider", "oidc-provider")
	var err error
	script, err = filepath.Abs("provider/server.mjs")
	if err != nil {
		t.Fatal(err)
	}
	return node, script
}

// providerOptions vary a provider from the default one.
type providerOptions struct {
	// SigningKey, when not nil, is the private JWK it signs with instead of
	// one it generates.
	SigningKey map[string]any
	// JWKSDelay delays its JWKS answers, like a provider across a network.
	JWKSDelay time.Duration
}

// startProvider runs an OpenID provider on a free loopback port with the
// test users and resources.
func startProvider(t *testing.T, opt providerOptions) *provider {
	t.Helper()
	node, script := requireProvider(t)
	cfg := providerConfig{
		Users:       testUsers,
		Resources:   testResources,
		SigningKey:  opt.SigningKey,
		AdminToken:  randomHex(16),
		JWKSDelayMs: int(opt.JWKSDelay / time.Millisecond),
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, "--port", "0")
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "OIDC_TEST_CONFIG="+string(cfgJSON), "NODE_OPTIONS=")
	// The provider exits when its stdin closes: it cannot outlive this
	// process even if the cleanup below never runs.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &harness.LockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("provider stderr:\n%s", stderr.String())
		}
	})

	line := make(chan []byte, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- append([]byte(nil), sc.Bytes()...)
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	p := &provider{users: map[string]providerUser{}, adminToken: cfg.AdminToken}
	select {
	case l := <-line:
		if err := json.Unmarshal(l, p); err != nil || p.Issuer == "" || p.KID == "" {
			t.Fatalf("provider printed %q, not its issuer and kid (%v)", l, err)
		}
	case <-done:
		t.Fatalf("provider exited before listening:\n%s", stderr.String())
	case <-time.After(providerStartTimeout):
		t.Fatalf("provider did not listen within %s:\n%s", providerStartTimeout, stderr.String())
	}
	if u, err := url.Parse(p.Issuer); err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("provider issuer %q is not on loopback", p.Issuer)
	}
	for _, u := range testUsers {
		p.users[u.Sub] = u
	}
	return p
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// Token gets an access token for user and resource with the
// client-credentials grant, authenticating as the user's client.
func (p *provider) Token(t *testing.T, user, resource string) string {
	t.Helper()
	u, ok := p.users[user]
	if !ok {
		t.Fatalf("no test user %q", user)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {"chat"}}
	req, err := http.NewRequest(http.MethodPost, p.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(u.Sub), url.QueryEscape(u.Secret))
	status, body := send(t, req)
	var answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &answer) != nil || answer.AccessToken == "" {
		t.Fatalf("provider token endpoint: %d %s", status, body)
	}
	if strings.Count(answer.AccessToken, ".") != 2 {
		t.Fatalf("provider issued %q, not a JWT", answer.AccessToken)
	}
	return answer.AccessToken
}

// Rotate makes the provider sign with a new key and returns its kid.
func (p *provider) Rotate(t *testing.T) string {
	t.Helper()
	var answer struct{ KID, Previous string }
	p.admin(t, http.MethodPost, "/admin/rotate", &answer)
	if answer.KID == "" || answer.Previous != p.KID {
		t.Fatalf("rotate answered %+v; the current kid was %s", answer, p.KID)
	}
	p.KID = answer.KID
	return answer.KID
}

// JWKSRequests is how often the provider's JWKS has been fetched.
func (p *provider) JWKSRequests(t *testing.T) int {
	t.Helper()
	var answer struct {
		JWKSRequests int `json:"jwks_requests"`
	}
	p.admin(t, http.MethodGet, "/admin/stats", &answer)
	return answer.JWKSRequests
}

func (p *provider) admin(t *testing.T, method, path string, into any) {
	t.Helper()
	req, err := http.NewRequest(method, p.Issuer+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.adminToken)
	status, body := send(t, req)
	if status != http.StatusOK || json.Unmarshal(body, into) != nil {
		t.Fatalf("provider %s %s: %d %s", method, path, status, body)
	}
}

// jwk is one entry of a JWKS, kept as the raw JSON the provider served too.
type jwk struct {
	KTY string `json:"kty"`
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	raw json.RawMessage
}

// PublicKeys fetches the provider's JWKS the way a relying party does:
// the jwks_uri found through discovery.
func (p *provider) PublicKeys(t *testing.T) map[string]jwk {
	t.Helper()
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, p.Issuer+"/.well-known/openid-configuration", &discovery)
	if discovery.Issuer != p.Issuer || discovery.JWKSURI != p.JWKSURI {
		t.Fatalf("discovery names issuer %q and jwks_uri %q; the provider printed %q and %q", discovery.Issuer, discovery.JWKSURI, p.Issuer, p.JWKSURI)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	getJSON(t, discovery.JWKSURI, &set)
	keys := map[string]jwk{}
	for _, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			t.Fatal(err)
		}
		if k.KTY != "RSA" || k.KID == "" {
			t.Fatalf("provider JWKS entry %s", raw)
		}
		for _, private := range []string{`"d"`, `"p"`, `"q"`} {
			if bytes.Contains(raw, []byte(private)) {
				t.Fatalf("provider JWKS publishes a private member %s: %s", private, raw)
			}
		}
		k.raw = raw
		keys[k.KID] = k
	}
	return keys
}

func (k jwk) PublicKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	n, err1 := base64.RawURLEncoding.DecodeString(k.N)
	e, err2 := base64.RawURLEncoding.DecodeString(k.E)
	if err1 != nil || err2 != nil {
		t.Fatalf("JWK n/e not base64url: %v %v", err1, err2)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
}

// privateJWK is key as a private RSA JWK, for a provider that must sign
// with a key the test chose.
func privateJWK(key *rsa.PrivateKey, kid string) map[string]any {
	key.Precompute()
	b := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }
	return map[string]any{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b(key.N), "e": b(big.NewInt(int64(key.E))), "d": b(key.D),
		"p": b(key.Primes[0]), "q": b(key.Primes[1]),
		"dp": b(key.Precomputed.Dp), "dq": b(key.Precomputed.Dq), "qi": b(key.Precomputed.Qinv),
	}
}

func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, body := send(t, req)
	if status != http.StatusOK || json.Unmarshal(body, into) != nil {
		t.Fatalf("GET %s: %d %s", u, status, body)
	}
}

func send(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

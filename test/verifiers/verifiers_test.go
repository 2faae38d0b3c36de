package verifiers

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/internal/testkeys"
	"github.com/chattoken/chattoken/test/harness"
)

const (
	issuer  = "https://shop.example"
	subject = "c-ann"
	// The session document. cart.total is written 1e4 so that every verifier
	// sees whether the service wrote it back in plain decimal.
	sessionDoc = `{"contact":{"id":"c-ann"},"cart":{"total":1e4},"vip":true}`
	// pageTitle is the request's context text: characters JSON must escape
	// (quotes, a backslash, U+2028, which old JavaScript parsers choked on),
	// characters Go's encoder writes as \u003c, \u003e and \u0026 (the
	// token's payload has them so; the lwicontexts string inside does not),
	// and non-ASCII inside and beyond the Basic Multilingual Plane (a
	// surrogate pair in JavaScript).
	pageTitle = "Caf\u00e9 \"D\u00e9j\u00e0 vu\" <b>&amp;</b> \\o/ \U0001F600\u2028fin"
)

// One variable of each kind: a session number, a session boolean, a request
// text and a static text.
const contextSchema = `{
  "encoding": %q,
  "variables": {
    "msdyn_cartvalue": {"type": "number",  "source": "session", "field": "cart.total"},
    "msdyn_isvip":     {"type": "boolean", "source": "session", "field": "vip"},
    "msdyn_pagetitle": {"type": "text",    "source": "request"},
    "msdyn_channel":   {"type": "text",    "source": "static",  "value": "web"}
  }
}`

// wantContexts is the lwicontexts object each encoding must produce, written
// out by hand rather than derived from anything the service says.
var wantContexts = map[string]map[string]any{
	"string": {"msdyn_cartvalue": "10000", "msdyn_isvip": "true", "msdyn_pagetitle": pageTitle, "msdyn_channel": "web"},
	"typed":  {"msdyn_cartvalue": 10000.0, "msdyn_isvip": true, "msdyn_pagetitle": pageTitle, "msdyn_channel": "web"},
}

// The two services. RS256 is what Omnichannel accepts, in Microsoft's string
// encoding; HS256 uses the typed encoding so that JSON numbers and booleans
// cross every verifier too.
var services = []struct{ alg, encoding string }{
	{"RS256", "string"},
	{"HS256", "typed"},
}

// keyMaterial is what a verifier is given to check a signature with.
type keyMaterial struct {
	PEM     string // RS256: the SPKI public key, as /publickey serves it
	JWKSURL string // RS256: a JWKS holding the key under the token's kid
	Secret  []byte // HS256: the secret's bytes
}

// verifyCase is one token with what a verifier is told to expect of it.
type verifyCase struct {
	name        string
	alg         string
	token       string
	key         keyMaterial
	issuer      string
	lwicontexts map[string]any
	// reject is empty when the token must be accepted; otherwise every
	// verifier must reject it, for a reason whose text mentions reject.
	reject string
}

// rejection is a verifier refusing a token, in the verifier's own words.
type rejection struct{ reason string }

func (r *rejection) Error() string { return r.reason }

func TestIndependentVerifiers(t *testing.T) {
	t.Parallel()
	for _, svc := range services {
		t.Run(svc.alg, func(t *testing.T) {
			t.Parallel()
			cases := mintCases(t, svc.alg, svc.encoding)
			for _, v := range verifiers {
				if !slices.Contains(v.algs, svc.alg) {
					continue
				}
				t.Run(v.name, func(t *testing.T) {
					t.Parallel()
					verify := v.prepare(t, svc.alg)
					for _, c := range cases {
						t.Run(c.name, func(t *testing.T) {
							t.Parallel()
							claims, err := verify(t, c)
							checkOutcome(t, c, claims, err)
						})
					}
				})
			}
		})
	}
}

// checkOutcome holds a verifier's answer to what the case demands. A
// rejection must come for the case's reason: a verifier that rejects
// everything (a broken key, a failed JWKS fetch) does not pass.
func checkOutcome(t *testing.T, c verifyCase, claims map[string]any, err error) {
	t.Helper()
	var r *rejection
	if err != nil && !errors.As(err, &r) {
		t.Fatalf("verifier error: %v", err)
	}
	if c.reject == "" {
		if r != nil {
			t.Fatalf("rejected a genuine token: %s", r.reason)
		}
		if claims["sub"] != subject {
			t.Errorf("sub = %#v, want %q", claims["sub"], subject)
		}
		return
	}
	if r == nil {
		t.Fatalf("accepted a token it must reject (for %q); claims %v", c.reject, claims)
	}
	if !strings.Contains(strings.ToLower(r.reason), c.reject) {
		t.Fatalf("rejected for %q, want a reason mentioning %q", r.reason, c.reject)
	}
	t.Logf("rejected as it must be: %s", strings.TrimSpace(r.reason))
}

// mintCases starts the binary with alg and the context schema in encoding,
// mints a token as the widget would (POST /token with a request context)
// and returns it with the tokens every verifier must refuse.
func mintCases(t *testing.T, alg, encoding string) []verifyCase {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", sessionDoc)
	env := map[string]string{
		"CHATTOKEN_ISSUER":         issuer,
		"CHATTOKEN_SIGNING_ALG":    alg,
		"CHATTOKEN_INTROSPECT_URL": upstream.URL + "/api/me",
		"CHATTOKEN_SUBJECT_FIELD":  "contact.id",
		"CHATTOKEN_TOKEN_TTL":      "10m",
		"CHATTOKEN_CLOCK_SKEW":     "30s",
		"CHATTOKEN_CONTEXT_FILE":   harness.WriteFile(t, "context.json", fmt.Appendf(nil, contextSchema, encoding)),
	}

	var key, otherKey keyMaterial
	var sign func(signingInput string) []byte // the service's own key, for tokens it would never mint
	switch alg {
	case "RS256":
		private, path := harness.WriteRSAKey(t)
		env["CHATTOKEN_SIGNING_KEY_FILE"] = path
		sign = func(in string) []byte {
			digest := sha256.Sum256([]byte(in))
			sig, err := rsa.SignPKCS1v15(nil, private, crypto.SHA256, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
	case "HS256":
		secret := make([]byte, 48)
		_, _ = rand.Read(secret)
		// The service drops one trailing newline (LF or CRLF) from the file;
		// a secret whose own last byte were CR or LF would lose it there, and
		// this test would be about that rather than about the verifiers.
		if last := secret[len(secret)-1]; last == '\n' || last == '\r' {
			secret[len(secret)-1] = 'x'
		}
		env["CHATTOKEN_SIGNING_KEY_FILE"] = harness.WriteFile(t, "hs256.secret", append(slices.Clone(secret), '\n'))
		key.Secret = secret
		otherKey.Secret = make([]byte, 48)
		_, _ = rand.Read(otherKey.Secret)
		sign = func(in string) []byte {
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(in))
			return mac.Sum(nil)
		}
	}
	svc := harness.Start(t, env)
	token := mint(t, svc)

	if alg == "RS256" {
		// The key as Omnichannel gets it, and as JWKS clients get it.
		resp, body := harness.Do(t, http.MethodGet, svc.URL+"/publickey", "", "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/publickey: %d %s", resp.StatusCode, body)
		}
		key.PEM = string(body)
		key.JWKSURL = svc.URL + "/.well-known/jwks.json"
		// Another key, published under the token's own kid, so that a
		// verifier picking keys by kid still has to check the signature.
		other := testkeys.New()
		otherKey.PEM = publicPEM(t, &other.PublicKey)
		otherKey.JWKSURL = serveJWKS(t, tokenHeader(t, token)["kid"], &other.PublicKey)
	}

	now := time.Now().Unix()
	want := wantContexts[encoding]
	otherContexts := maps.Clone(want)
	otherContexts["msdyn_channel"] = "phone"
	genuine := verifyCase{alg: alg, token: token, key: key, issuer: issuer, lwicontexts: want}
	with := func(name, reject string, edit func(*verifyCase)) verifyCase {
		c := genuine
		c.name, c.reject = name, reject
		edit(&c)
		return c
	}
	return []verifyCase{
		with("genuine token", "", func(*verifyCase) {}),
		with("one flipped signature byte", "signature", func(c *verifyCase) { c.token = flipSignatureByte(t, token) }),
		with("another key", "signature", func(c *verifyCase) { c.key = otherKey }),
		// The service cannot be made to mint these, so they are re-signed
		// with its key: only the time claims are wrong.
		with("expired", "exp", func(c *verifyCase) {
			c.token = resign(t, token, sign, map[string]int64{"iat": now - 3600, "nbf": now - 3630, "exp": now - 60})
		}),
		with("not yet valid", "nbf", func(c *verifyCase) {
			c.token = resign(t, token, sign, map[string]int64{"nbf": now + 3600, "exp": now + 7200})
		}),
		with("another issuer expected", "iss", func(c *verifyCase) { c.issuer = "https://other.example" }),
		with("other context expected", "lwicontexts", func(c *verifyCase) { c.lwicontexts = otherContexts }),
	}
}

// mint asks the service for a token the way the widget's page does.
func mint(t *testing.T, svc *harness.Service) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"context": map[string]any{"msdyn_pagetitle": pageTitle}})
	if err != nil {
		t.Fatal(err)
	}
	resp, data := harness.Do(t, http.MethodPost, svc.URL+"/token", "ann", "application/json", string(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/token: %d %s", resp.StatusCode, data)
	}
	var answer struct{ Token string }
	if err := json.Unmarshal(data, &answer); err != nil || answer.Token == "" {
		t.Fatalf("/token answered %s (%v)", data, err)
	}
	return answer.Token
}

var b64 = base64.RawURLEncoding

func splitToken(t *testing.T, token string) (header, payload string, sig []byte) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature segment is not base64url: %v", err)
	}
	return parts[0], parts[1], sig
}

func decodeSegment(t *testing.T, segment string) map[string]any {
	t.Helper()
	raw, err := b64.DecodeString(segment)
	if err != nil {
		t.Fatalf("segment is not base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("segment is not a JSON object: %v: %s", err, raw)
	}
	return m
}

func tokenHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	header, _, _ := splitToken(t, token)
	return decodeSegment(t, header)
}

// flipSignatureByte changes one bit of the decoded signature. Flipping a
// base64 character instead could land in the unused bits of the last one
// and leave the signature as it was.
func flipSignatureByte(t *testing.T, token string) string {
	t.Helper()
	header, payload, sig := splitToken(t, token)
	sig[len(sig)/2] ^= 0x01
	return header + "." + payload + "." + b64.EncodeToString(sig)
}

// resign returns token with the given claims replaced, signed again with
// sign. The header and every other claim stay as the service wrote them.
func resign(t *testing.T, token string, sign func(string) []byte, set map[string]int64) string {
	t.Helper()
	header, payload, _ := splitToken(t, token)
	claims := decodeSegment(t, payload)
	for k, v := range set {
		claims[k] = v
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := header + "." + b64.EncodeToString(raw)
	return in + "." + b64.EncodeToString(sign(in))
}

func publicPEM(t *testing.T, pub *rsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// serveJWKS publishes pub under kid and returns the JWKS URL.
func serveJWKS(t *testing.T, kid any, pub *rsa.PublicKey) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": b64.EncodeToString(pub.N.Bytes()),
		"e": b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}

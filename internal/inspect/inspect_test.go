package inspect

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/testkeys"
)

func testKeys() [2]*rsa.PrivateKey { return [2]*rsa.PrivateKey{testkeys.RSA(0), testkeys.RSA(1)} }

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// goodClaims are what a valid Omnichannel token carries.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "c-1", "iss": "https://shop.example",
		"iat": now.Unix() - 60, "nbf": now.Unix() - 90, "exp": now.Unix() + 840,
		"lwicontexts": `{"msdyn_cartvalue":"10000","msdyn_isvip":"false"}`,
	}
}

// sign makes a token with golang-jwt; header fields in hdr are added.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims, hdr map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sources returns the PEM and JWKS sources publishing the given keys, as
// chattoken's own endpoints would.
func sources(t *testing.T, pems int) []KeySource {
	t.Helper()
	ks := testKeys()
	set, err := keys.NewRSASet(ks[0])
	if err != nil {
		t.Fatal(err)
	}
	pemSrc, err := ParsePublicKeyURLBody("publickey", set.Published.PEM)
	if err != nil {
		t.Fatal(err)
	}
	jwksSrc, err := ParseJWKS("jwks", set.Published.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	if pems == 1 {
		return []KeySource{pemSrc, jwksSrc}
	}
	// Two keys: the array form.
	other, err := keys.NewRSASet(ks[1])
	if err != nil {
		t.Fatal(err)
	}
	array := `[{"kid":"` + set.Signer.KID + `","publicKey":"` + base64.StdEncoding.EncodeToString(set.Published.PEM) +
		`","expiry":1},{"kid":"` + other.Signer.KID + `","publicKey":"` + base64.StdEncoding.EncodeToString(other.Published.PEM) + `","expiry":1}]`
	arraySrc, err := ParsePublicKeyURLBody("array", []byte(array))
	if err != nil {
		t.Fatal(err)
	}
	return []KeySource{arraySrc}
}

func status(findings []Finding, check string) (Status, string) {
	for _, f := range findings {
		if f.Check == check || strings.HasPrefix(f.Check, check+" (") {
			return f.Status, f.Detail
		}
	}
	return "", "no such check"
}

func kid() string { return keys.Thumbprint(&testKeys()[0].PublicKey) }

func TestGoodTokens(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	good := sign(t, jwt.SigningMethodRS256, ks[0], goodClaims(), map[string]any{"kid": kid()})

	// The same claims signed by another JWT library, go-jose.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: ks[0]},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid()))
	if err != nil {
		t.Fatal(err)
	}
	byJose, err := josejwt.Signed(signer).Claims(map[string]any(goodClaims())).Serialize()
	if err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		token string
		srcs  []KeySource
	}{
		"golang-jwt, PEM and JWKS": {good, sources(t, 1)},
		"go-jose, PEM and JWKS":    {byJose, sources(t, 1)},
		"golang-jwt, key array":    {good, sources(t, 2)},
		"surrounding whitespace":   {"\n " + good + "\n", sources(t, 1)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			findings := Check(tc.token, tc.srcs, now)
			if !OK(findings) {
				t.Fatalf("a good token failed: %+v", findings)
			}
			if s, d := status(findings, "lwicontexts"); s != Pass || !strings.Contains(d, "msdyn_isvip") {
				t.Errorf("lwicontexts %s %s", s, d)
			}
		})
	}
}

func TestBadTokens(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	withKID := map[string]any{"kid": kid()}
	mutate := func(f func(jwt.MapClaims)) jwt.MapClaims {
		c := goodClaims()
		f(c)
		return c
	}
	long := strings.Repeat("x", 4001)
	manyVars := map[string]string{}
	for i := range 101 {
		manyVars[strings.Repeat("v", 3)+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = "1"
	}
	manyJSON, _ := json.Marshal(manyVars)
	good := sign(t, jwt.SigningMethodRS256, ks[0], goodClaims(), withKID)
	parts := strings.Split(good, ".")
	flipped := parts[0] + "." + parts[1] + "." + flipLast(parts[2])

	tests := []struct {
		name, token, check, want string
		srcs                     []KeySource
		wantStatus               Status
	}{
		{"not a JWT", "abc.def", "format", "three", sources(t, 1), Fail},
		{"payload not JSON", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("hi")) + "." + parts[2], "format", "payload", sources(t, 1), Fail},
		{"HS256, as in Microsoft's sample", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("s", 32)), goodClaims(), nil), "alg", "RS256 only", sources(t, 1), Fail},
		{"no kid with several keys published", sign(t, jwt.SigningMethodRS256, ks[0], goodClaims(), nil), "kid", "several keys", sources(t, 2), Fail},
		{"no kid with one key is only a warning", sign(t, jwt.SigningMethodRS256, ks[0], goodClaims(), nil), "kid", "single PEM", sources(t, 1), Warn},
		{"kid not published", sign(t, jwt.SigningMethodRS256, ks[0], goodClaims(), map[string]any{"kid": "nope"}), "signature", "not among", sources(t, 2), Fail},
		{"signed by another key", sign(t, jwt.SigningMethodRS256, ks[1], goodClaims(), withKID), "signature", "invalid", sources(t, 1), Fail},
		{"tampered signature", flipped, "signature", "invalid", sources(t, 1), Fail},
		{"no key source", good, "signature", "not checked", nil, Skip},
		{"missing sub", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { delete(c, "sub") }), withKID), "sub", "required", sources(t, 1), Fail},
		{"numeric sub", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["sub"] = 7 }), withKID), "sub", "a number", sources(t, 1), Fail},
		{"missing iss", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { delete(c, "iss") }), withKID), "iss", "required", sources(t, 1), Fail},
		{"missing iat", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { delete(c, "iat") }), withKID), "iat", "required", sources(t, 1), Fail},
		{"string exp", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), withKID), "exp", "a string", sources(t, 1), Fail},
		{"exp in milliseconds", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["exp"] = now.UnixMilli() + 60000 }), withKID), "exp", "milliseconds", sources(t, 1), Fail},
		{"expired", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["exp"] = now.Unix() - 1 }), withKID), "validity", "expired", sources(t, 1), Fail},
		{"not yet valid", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["nbf"] = now.Unix() + 60 }), withKID), "validity", "not valid for another", sources(t, 1), Fail},
		{"lifetime over a day", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["exp"] = now.Unix() + 48*3600 }), withKID), "lifetime", "at most", sources(t, 1), Fail},
		{"lwicontexts as an object", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = map[string]any{"a": "1"} }), withKID), "lwicontexts", "must be a string", sources(t, 1), Fail},
		{"lwicontexts not JSON", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = "a=1" }), withKID), "lwicontexts", "not a JSON object", sources(t, 1), Fail},
		{"lwicontexts nested", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":{"b":1}}` }), withKID), "lwicontexts", "an object", sources(t, 1), Fail},
		{"lwicontexts long value", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":"` + long + `"}` }), withKID), "lwicontexts", "4001 characters", sources(t, 1), Fail},
		{"lwicontexts long name", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"` + strings.Repeat("n", 101) + `":"1"}` }), withKID), "lwicontexts", "over 100", sources(t, 1), Fail},
		{"lwicontexts 101 variables", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = string(manyJSON) }), withKID), "lwicontexts", "101 variables", sources(t, 1), Fail},
		{"token over 4 KiB warns", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("p", 3500) }), withKID), "size", "over 4096", sources(t, 1), Warn},
		{"token over 8 KiB fails", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("p", 7000) }), withKID), "size", "too large", sources(t, 1), Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			findings := Check(tt.token, tt.srcs, now)
			s, d := status(findings, tt.check)
			if s != tt.wantStatus || !strings.Contains(d, tt.want) {
				t.Errorf("%s = %s %q; want %s containing %q", tt.check, s, d, tt.wantStatus, tt.want)
			}
			if tt.wantStatus != Warn && OK(findings) {
				t.Errorf("OK = true for a bad token: %+v", findings)
			}
			if tt.wantStatus == Warn && !OK(findings) {
				t.Errorf("a warning alone made the token fail: %+v", findings)
			}
		})
	}
}

func TestKeySourceRefusals(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"JSON-quoted PEM, a pitfall seen in the wild": `"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"`,
		"empty array":     `[]`,
		"entry no base64": `[{"kid":"a","publicKey":"%%%","expiry":1}]`,
		"entry no kid":    `[{"publicKey":"","expiry":1}]`,
	} {
		if _, err := ParsePublicKeyURLBody(name, []byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseJWKS("x", []byte(`{"keys":[]}`)); err == nil {
		t.Error("an empty JWKS was accepted")
	}
}

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

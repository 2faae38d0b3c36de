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
		{"missing exp", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { delete(c, "exp") }), withKID), "exp", "never asks for a fresh token", sources(t, 1), Fail},
		{"exp of 13 digits", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["exp"] = now.UnixMilli() + 60000 }), withKID), "exp", "has 13 digits: milliseconds", sources(t, 1), Fail},
		{"lwicontexts sent as an object", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = map[string]any{"a": "1"} }), withKID), "lwicontexts", "sent as an object; it must be a string", sources(t, 1), Fail},
		{"displayable value nested", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":{"value":{"b":1},"isDisplayable":true}}` }), withKID), "lwicontexts", "displayable value is an object", sources(t, 1), Fail},
		{"displayable with another member", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":{"value":"1","isDisplayable":true,"label":"x"}}` }), withKID), "lwicontexts", "an object other than", sources(t, 1), Fail},
		{"displayable in both spellings", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":{"value":"1","Value":"1","isDisplayable":true}}` }), withKID), "lwicontexts", "an object other than", sources(t, 1), Fail},
		{"displayable flag not a boolean", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":{"value":"1","isDisplayable":"true"}}` }), withKID), "lwicontexts", "an object other than", sources(t, 1), Fail},
		{"displayable value too long", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":{"Value":"` + long + `","isDisplayable":true}}` }), withKID), "lwicontexts", "4001 characters", sources(t, 1), Fail},
		{"isDisplayable false warns", sign(t, jwt.SigningMethodRS256, ks[0], mutate(func(c jwt.MapClaims) { c["lwicontexts"] = `{"a":{"value":"1","isDisplayable":false}}` }), withKID), "lwicontexts", "the agent does not see", sources(t, 1), Warn},
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
			// A failure names the widget's error; nothing else does.
			for _, f := range findings {
				if hasWidget := strings.HasSuffix(f.Line(), "; the widget reports lcw:error 4 (invalid token)"); hasWidget != (f.Status == Fail) {
					t.Errorf("%s line %q: widget error named %v", f.Status, f.Line(), hasWidget)
				}
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
	set, err := keys.NewRSASet(testKeys()[0])
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(set.Published.PEM)
	quotedPEM, _ := json.Marshal(string(set.Published.PEM))
	rawPEM, _ := json.Marshal(string(set.Published.PEM))
	for name, tc := range map[string]struct{ body, want string }{
		"JSON-quoted PEM, a pitfall seen in the wild": {string(quotedPEM), "JSON-quoted string holding a PEM"},
		"empty array":             {`[]`, "empty"},
		"entry no base64":         {`[{"kid":"a","publicKey":"%%%","expiry":1}]`, "not base64"},
		"entry holding a raw PEM": {`[{"kid":"a","publicKey":` + string(rawPEM) + `,"expiry":1}]`, "the PEM itself"},
		"entry no kid":            {`[{"publicKey":"` + b64 + `","expiry":1}]`, "no kid"},
		"the same kid twice":      {`[{"kid":"a","publicKey":"` + b64 + `","expiry":1},{"kid":"a","publicKey":"` + b64 + `","expiry":2}]`, `kid "a" appears twice`},
	} {
		if _, err := ParsePublicKeyURLBody(name, []byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", name, err, tc.want)
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

// TestDisplayableContext: both spellings of a displayable value pass, and
// the pass names which variables the agent sees.
func TestDisplayableContext(t *testing.T) {
	t.Parallel()
	c := goodClaims()
	c["lwicontexts"] = `{"Name":{"value":"Ann","isDisplayable":true},"Email":{"Value":"ann@shop.example","isDisplayable":true},"msdyn_isvip":"false"}`
	findings := Check(sign(t, jwt.SigningMethodRS256, testKeys()[0], c, map[string]any{"kid": kid()}), sources(t, 1), now)
	if !OK(findings) {
		t.Fatalf("displayable values failed: %+v", findings)
	}
	if s, d := status(findings, "lwicontexts"); s != Pass || d != "3 variables: Email (displayed), Name (displayed), msdyn_isvip" {
		t.Errorf("lwicontexts %s %q", s, d)
	}
}

// TestKeyArrayExpiry: the array's expiries are kept per kid, for the
// doctor's judgement.
func TestKeyArrayExpiry(t *testing.T) {
	t.Parallel()
	set, err := keys.NewRSASet(testKeys()[0])
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(set.Published.PEM)
	src, err := ParsePublicKeyURLBody("array", []byte(`[{"kid":"a","publicKey":"`+b64+`","expiry":1795626000},{"kid":"b","publicKey":"`+b64+`"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Expiry["a"]; !got.Equal(time.Unix(1795626000, 0)) {
		t.Errorf("expiry of a = %v", got)
	}
	if got, ok := src.Expiry["b"]; ok {
		t.Errorf("an entry without expiry has one: %v", got)
	}
}

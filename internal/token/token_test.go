package token

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/testkeys"
)

// rsaSet is a key set of the i-th test key.
func rsaSet(t *testing.T, i int) *keys.Set {
	t.Helper()
	set, err := keys.NewRSASet(testkeys.RSA(i))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func hmacSet(t *testing.T) *keys.Set {
	t.Helper()
	set, err := keys.NewHMACSet([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestMint(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 700_000_000, time.UTC)
	for name, set := range map[string]*keys.Set{"RS256": rsaSet(t, 0), "HS256": hmacSet(t)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := &Minter{
				Issuer: "https://shop.example", TTL: 15 * time.Minute, ClockSkew: 30 * time.Second,
				Keys: func() *keys.Set { return set }, Now: func() time.Time { return now },
			}
			tok, err := m.Mint(Request{
				Subject:  "contact-1",
				Identity: map[string]any{"email": "a@shop.example"},
				Context:  `{"msdyn_channel":"web"}`,
			})
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.Parse(tok.Raw, func(*jwt.Token) (any, error) { return set.Signer.Public, nil },
				jwt.WithValidMethods([]string{name}), jwt.WithTimeFunc(func() time.Time { return now }))
			if err != nil {
				t.Fatalf("the token does not verify: %v", err)
			}
			if parsed.Header["typ"] != "JWT" {
				t.Errorf("typ = %v", parsed.Header["typ"])
			}
			if kid, has := parsed.Header["kid"]; (set.Signer.KID != "") != has || (has && kid != set.Signer.KID) {
				t.Errorf("kid header %v, want %q", kid, set.Signer.KID)
			}
			claims := parsed.Claims.(jwt.MapClaims)
			iat := now.Truncate(time.Second).Unix()
			want := map[string]any{
				"sub": "contact-1", "iss": "https://shop.example",
				"iat": float64(iat), "nbf": float64(iat - 30), "exp": float64(iat + 900),
				"email": "a@shop.example", "lwicontexts": `{"msdyn_channel":"web"}`,
			}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %#v, want %#v", k, claims[k], v)
				}
			}
			jti, _ := claims["jti"].(string)
			if b, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(b) != 16 || jti != tok.ID {
				t.Errorf("jti %q is not 128 bits of base64url matching Token.ID %q", jti, tok.ID)
			}
			if len(claims) != len(want)+1 {
				t.Errorf("claims %v: unexpected extra claims", claims)
			}
			if tok.ExpiresAt.Unix() != iat+900 || tok.KID != set.Signer.KID {
				t.Errorf("Token = %+v", tok)
			}
		})
	}
}

func TestMintIdentityCannotOverrideRegisteredClaims(t *testing.T) {
	t.Parallel()
	set := hmacSet(t)
	m := &Minter{Issuer: "iss", TTL: time.Minute, Keys: func() *keys.Set { return set }, Now: time.Now}
	tok, err := m.Mint(Request{Subject: "real", Identity: map[string]any{"sub": "forged", "exp": 1}})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok.Raw, claims, func(*jwt.Token) (any, error) { return set.Signer.Public, nil }); err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != "real" || claims["exp"] == float64(1) {
		t.Errorf("identity overrode a registered claim: %v", claims)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Raw, ".")[1])
	if strings.Count(string(payload), `"sub"`) != 1 || strings.Count(string(payload), `"exp"`) != 1 {
		t.Errorf("a registered claim appears twice: %s", payload)
	}
}

func TestMintRefusesEmptySubjectAndIDsDiffer(t *testing.T) {
	t.Parallel()
	set := hmacSet(t)
	m := &Minter{Issuer: "iss", TTL: time.Minute, Keys: func() *keys.Set { return set }, Now: time.Now}
	if _, err := m.Mint(Request{}); err == nil {
		t.Error("minted a token without a subject")
	}
	a, _ := m.Mint(Request{Subject: "s"})
	b, _ := m.Mint(Request{Subject: "s"})
	if a.ID == b.ID {
		t.Error("two tokens share a jti")
	}
}

func TestSelfTest(t *testing.T) {
	t.Parallel()
	good := rsaSet(t, 0)
	m := &Minter{Issuer: "iss", TTL: time.Minute, Keys: func() *keys.Set { return good }, Now: time.Now}
	if err := m.SelfTest(); err != nil {
		t.Fatalf("SelfTest: %v", err)
	}
	// A set whose published half does not match its private half must fail.
	broken := *good
	broken.Signer.Public = &rsaSet(t, 1).Signer.Private.(*rsa.PrivateKey).PublicKey
	m.Keys = func() *keys.Set { return &broken }
	if err := m.SelfTest(); err == nil {
		t.Fatal("SelfTest passed with mismatched keys")
	}
}

func TestReuse(t *testing.T) {
	t.Parallel()
	sets := [2]*keys.Set{rsaSet(t, 0), rsaSet(t, 1)}
	current := sets[0]
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	m := &Minter{
		Issuer: "iss", TTL: 10 * time.Minute, Keys: func() *keys.Set { return current },
		Now: func() time.Time { return now }, Reuse: NewReuse(100, 10*time.Minute),
	}
	req := Request{Subject: "c-1", Identity: map[string]any{"email": "a@b"}, Context: `{"a":"1"}`}
	first, err := m.Mint(req)
	if err != nil || first.Reused {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, _ := m.Mint(req)
	if !again.Reused || again.Raw != first.Raw {
		t.Fatal("the same request within the window got a new signature")
	}
	for name, other := range map[string]Request{
		"another subject":  {Subject: "c-2", Identity: req.Identity, Context: req.Context},
		"another context":  {Subject: "c-1", Identity: req.Identity, Context: `{"a":"2"}`},
		"another identity": {Subject: "c-1", Identity: map[string]any{"email": "x@y"}, Context: req.Context},
		"no identity":      {Subject: "c-1", Context: req.Context},
	} {
		if tok, _ := m.Mint(other); tok.Reused {
			t.Errorf("%s reused another request's token", name)
		}
	}
	// Past a tenth of the lifetime: a new token.
	now = now.Add(time.Minute + time.Second)
	if tok, _ := m.Mint(req); tok.Reused || tok.Raw == first.Raw {
		t.Error("a token with less than 90% of its lifetime left was handed out again")
	}
	// A new signing key forgets every token.
	fresh, _ := m.Mint(req)
	current = sets[1]
	if tok, _ := m.Mint(req); tok.Reused || tok.KID == fresh.KID {
		t.Error("a token signed by the previous key was handed out after the key changed")
	}
}

// TestReuseAcrossWidgets: a token says nothing of the widget that asked for
// it, so two widgets whose context comes out the same get the same token
// (a new one would say exactly the same), and a widget whose context
// differs never gets another's.
func TestReuseAcrossWidgets(t *testing.T) {
	t.Parallel()
	sub, _ := jsondoc.ParsePath("sub")
	widgets, err := lwicontext.Parse([]byte(`{"widgets": {
		"sales":   {"variables": {"msdyn_channel": {"type": "text", "source": "static", "value": "web"}}},
		"support": {"variables": {"msdyn_channel": {"type": "text", "source": "static", "value": "web"}}},
		"phone":   {"variables": {"msdyn_channel": {"type": "text", "source": "static", "value": "phone"}}}
	}}`), lwicontext.DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	a := Assembler{Subject: sub, Context: widgets}
	set := rsaSet(t, 0)
	m := &Minter{Issuer: "iss", TTL: 10 * time.Minute, Keys: func() *keys.Set { return set }, Now: time.Now, Reuse: NewReuse(100, 10*time.Minute)}
	mint := func(widget string) Token {
		t.Helper()
		schema, err := widgets.Lookup(widget)
		if err != nil {
			t.Fatal(err)
		}
		req, err := a.Request(jsondoc.Document{"sub": "c-1"}, schema, lwicontext.RequestValues{})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := m.Mint(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	sales := mint("sales")
	if support := mint("support"); !support.Reused || support.Raw != sales.Raw {
		t.Error("a widget with the same context did not get the token it would have been signed")
	}
	if phone := mint("phone"); phone.Reused || phone.Raw == sales.Raw {
		t.Error("a widget with another context got another widget's token")
	}
}

// TestMintFollowsKeyReload: the header is encoded once per key set, so a
// minter that sees a new set after a reload must sign under that set's key
// and name it, in the header form verifiers have always been given.
func TestMintFollowsKeyReload(t *testing.T) {
	t.Parallel()
	sets := []*keys.Set{rsaSet(t, 0), rsaSet(t, 1), hmacSet(t)}
	var current atomic.Pointer[keys.Set]
	m := &Minter{Issuer: "iss", TTL: time.Minute, Keys: current.Load, Now: time.Now}
	for i, set := range append(sets, sets[0]) {
		current.Store(set)
		for range 2 {
			tok, err := m.Mint(Request{Subject: "contact-1"})
			if err != nil {
				t.Fatal(err)
			}
			want := `{"alg":"` + set.Signer.Method.Alg() + `","typ":"JWT"}`
			if set.Signer.KID != "" {
				want = `{"alg":"RS256","kid":"` + set.Signer.KID + `","typ":"JWT"}`
			}
			header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Raw, ".")[0])
			if string(header) != want {
				t.Fatalf("set %d: header %s, want %s", i, header, want)
			}
			if _, err := jwt.Parse(tok.Raw, func(*jwt.Token) (any, error) { return set.Signer.Public, nil },
				jwt.WithValidMethods([]string{set.Signer.Method.Alg()})); err != nil {
				t.Fatalf("set %d: the token does not verify with the set's key: %v", i, err)
			}
		}
	}
}

func TestSubjectGUID(t *testing.T) {
	t.Parallel()
	sub, _ := jsondoc.ParsePath("contact.id")
	a := Assembler{Subject: sub, SubjectGUID: true, Context: lwicontext.Empty()}
	schema, err := a.Context.Lookup("")
	if err != nil {
		t.Fatal(err)
	}
	for id, ok := range map[string]bool{
		"0f8fad5b-d9cb-469f-a165-70867728950e":   true,
		"0F8FAD5B-D9CB-469F-A165-70867728950E":   true,
		"0f8fad5bd9cb469fa16570867728950e":       false,
		"{0f8fad5b-d9cb-469f-a165-70867728950e}": false,
		"0f8fad5b-d9cb-469f-a165-70867728950":    false,
		"0f8fad5b-d9cb-469f-a165_70867728950e":   false,
		"0f8fad5b-d9cb-469f-a165-70867728950g":   false,
		"c-ann":                                  false,
	} {
		doc := jsondoc.Document{"contact": map[string]any{"id": id}}
		_, err := a.Request(doc, schema, lwicontext.RequestValues{})
		if ok && err != nil {
			t.Errorf("%q refused: %v", id, err)
		}
		if !ok && (!errors.Is(err, ErrSessionDocument) || !strings.Contains(err.Error(), "not a GUID")) {
			t.Errorf("%q: %v, want ErrSessionDocument naming the GUID", id, err)
		}
	}
	// Without the requirement any non-empty subject will do.
	a.SubjectGUID = false
	if _, err := a.Request(jsondoc.Document{"contact": map[string]any{"id": "c-ann"}}, schema, lwicontext.RequestValues{}); err != nil {
		t.Errorf("c-ann refused without the GUID requirement: %v", err)
	}
}

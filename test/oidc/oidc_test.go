package oidc

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
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/testkeys"
	"github.com/chattoken/chattoken/test/harness"
)

// chattokenIssuer is the iss of the tokens chattoken itself mints.
const chattokenIssuer = "https://shop.example"

// sessionCookie is the cookie the discovery instance reads a token from.
const sessionCookie = "idp_access_token"

// startChattoken runs chattoken in jwt mode with jwtEnv (the CHATTOKEN_JWT_
// variables) and an RS256 key of its own, copying the provider's email
// claim into the tokens it mints.
func startChattoken(t *testing.T, jwtEnv map[string]string) *harness.Service {
	t.Helper()
	_, keyPath := harness.WriteRSAKey(t)
	env := map[string]string{
		"CHATTOKEN_ISSUER":           chattokenIssuer,
		"CHATTOKEN_SIGNING_KEY_FILE": keyPath,
		"CHATTOKEN_SESSION_MODE":     "jwt",
		"CHATTOKEN_IDENTITY_CLAIMS":  "email=email",
		"CHATTOKEN_TOKEN_TTL":        "10m",
	}
	for k, v := range jwtEnv {
		env[k] = v
	}
	return harness.Start(t, env)
}

// ask sends GET /token to chattoken carrying a provider token the way a
// browser would: authorization is the whole Authorization header, cookie a
// "name=value" Cookie header; either may be empty.
func ask(t *testing.T, svc *harness.Service, authorization, cookie string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, svc.URL+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	return send(t, req)
}

// requireMinted checks a 200 answer of chattoken's /token: its token
// verifies with the key chattoken publishes at /publickey and is about
// wantSub, with the email the provider put in the user's access token.
func requireMinted(t *testing.T, svc *harness.Service, status int, body []byte, wantSub string) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("chattoken /token: %d %s; want 200", status, body)
	}
	var answer struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Token == "" {
		t.Fatalf("chattoken /token answered %s", body)
	}
	pub := chattokenPublicKey(t, svc)
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(answer.Token, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(chattokenIssuer), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("chattoken's token does not verify with its /publickey: %v", err)
	}
	if claims["sub"] != wantSub {
		t.Errorf("chattoken's token has sub %v; want %q, the provider's client id", claims["sub"], wantSub)
	}
	if want := testUser(t, wantSub).Claims["email"]; claims["email"] != want {
		t.Errorf("chattoken's token has email %v; want %v from the provider's token", claims["email"], want)
	}
}

func chattokenPublicKey(t *testing.T, svc *harness.Service) *rsa.PublicKey {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, svc.URL+"/publickey", nil)
	if err != nil {
		t.Fatal(err)
	}
	status, body := send(t, req)
	block, _ := pem.Decode(body)
	if status != http.StatusOK || block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("chattoken /publickey: %d %q", status, body)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub.(*rsa.PublicKey)
}

// requireUnauthenticated checks a refusal: 401 with the problem+json code
// unauthenticated, and no token.
func requireUnauthenticated(t *testing.T, status int, body []byte) {
	t.Helper()
	var problem struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Token  string `json:"token"`
	}
	_ = json.Unmarshal(body, &problem)
	if status != http.StatusUnauthorized || problem.Code != "unauthenticated" || problem.Status != 401 || problem.Token != "" {
		t.Fatalf("chattoken /token: %d %s; want 401 with code unauthenticated", status, body)
	}
}

func testUser(t *testing.T, sub string) providerUser {
	t.Helper()
	for _, u := range testUsers {
		if u.Sub == sub {
			return u
		}
	}
	t.Fatalf("no test user %q", sub)
	return providerUser{}
}

func bearer(token string) string { return "Bearer " + token }

// TestJWTModeAgainstOIDCProvider runs two chattoken instances against one
// provider: "discovery" finds the keys from CHATTOKEN_JWT_ISSUER's
// OpenID configuration (default leeway, and a cookie), "jwks" is given
// CHATTOKEN_JWT_JWKS_URL directly (1s leeway).
func TestJWTModeAgainstOIDCProvider(t *testing.T) {
	t.Parallel()
	idp := startProvider(t, providerOptions{})
	// Another provider: another issuer, other keys.
	other := startProvider(t, providerOptions{})

	instances := map[string]*harness.Service{
		"discovery": startChattoken(t, map[string]string{
			"CHATTOKEN_JWT_ISSUER":   idp.Issuer,
			"CHATTOKEN_JWT_AUDIENCE": apiAudience,
			"CHATTOKEN_JWT_COOKIE":   sessionCookie,
		}),
		"jwks": startChattoken(t, map[string]string{
			"CHATTOKEN_JWT_JWKS_URL": idp.JWKSURI,
			"CHATTOKEN_JWT_ISSUER":   idp.Issuer,
			"CHATTOKEN_JWT_AUDIENCE": apiAudience,
			"CHATTOKEN_JWT_LEEWAY":   "1s",
		}),
	}
	// Both found the provider's keys where the provider says they are.
	for name, svc := range instances {
		if logs := svc.Logs(idp.JWKSURI); !strings.Contains(logs, `"jwks_url":"`+idp.JWKSURI+`"`) {
			t.Fatalf("%s instance did not log loading keys from %s:\n%s", name, idp.JWKSURI, logs)
		}
	}
	keys := idp.PublicKeys(t)
	idpKey, ok := keys[idp.KID]
	if !ok {
		t.Fatalf("the provider's JWKS lacks its signing kid %s", idp.KID)
	}

	t.Run("provider token accepted as a bearer token", func(t *testing.T) {
		t.Parallel()
		for name, svc := range instances {
			for _, u := range testUsers {
				tok := idp.Token(t, u.Sub, resourceAPI)
				requireProviderSigned(t, tok, idpKey.PublicKey(t), idp.Issuer)
				status, body := ask(t, svc, bearer(tok), "")
				t.Logf("%s instance, user %s: %d", name, u.Sub, status)
				requireMinted(t, svc, status, body, u.Sub)
			}
		}
	})

	t.Run("provider token accepted from the cookie", func(t *testing.T) {
		t.Parallel()
		svc := instances["discovery"]
		tok := idp.Token(t, "bob-7f3a", resourceAPI)
		status, body := ask(t, svc, "", "theme=dark; "+sessionCookie+"="+tok)
		requireMinted(t, svc, status, body, "bob-7f3a")
		// The Authorization header wins over the cookie.
		status, body = ask(t, svc, bearer(idp.Token(t, "ann", resourceAPI)), sessionCookie+"="+tok)
		requireMinted(t, svc, status, body, "ann")
	})

	t.Run("token that expired 10s ago: inside the default 30s leeway, outside 1s", func(t *testing.T) {
		t.Parallel()
		tok := idp.Token(t, "ann", resourceJustExpired)
		exp := unverifiedClaims(t, tok)["exp"].(float64)
		if ago := time.Since(time.Unix(int64(exp), 0)); ago < 5*time.Second || ago > 20*time.Second {
			t.Fatalf("the provider's just-expired token expired %s ago; want about 10s", ago)
		}
		status, body := ask(t, instances["discovery"], bearer(tok), "")
		requireMinted(t, instances["discovery"], status, body, "ann")
		status, body = ask(t, instances["jwks"], bearer(tok), "")
		requireUnauthenticated(t, status, body)
	})

	// Every case is refused by both instances. Each token differs from one
	// the provider issued and chattoken accepts in the one way the case
	// names.
	refused := []struct {
		name string
		// request returns the Authorization and Cookie headers.
		request func(t *testing.T) (authorization, cookie string)
	}{
		{"expired five minutes ago (issued by the provider)", func(t *testing.T) (string, string) {
			return bearer(idp.Token(t, "ann", resourceExpired)), ""
		}},
		{"wrong audience (a token for another resource)", func(t *testing.T) (string, string) {
			tok := idp.Token(t, "ann", resourceOther)
			if aud := unverifiedClaims(t, tok)["aud"]; aud != otherAudience {
				t.Fatalf("the other resource's token has aud %v", aud)
			}
			return bearer(tok), ""
		}},
		{"wrong issuer (another provider, with its own keys)", func(t *testing.T) (string, string) {
			return bearer(other.Token(t, "ann", resourceAPI)), ""
		}},
		{"signed by another key under the provider's kid", func(t *testing.T) (string, string) {
			header, payload, _ := split(t, idp.Token(t, "ann", resourceAPI))
			return bearer(signRS256(t, header, payload, testkeys.New())), ""
		}},
		{"signed by another key under an unknown kid", func(t *testing.T) (string, string) {
			_, payload, _ := split(t, idp.Token(t, "ann", resourceAPI))
			header := encodeSegment(t, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "not-" + idp.KID})
			return bearer(signRS256(t, header, payload, testkeys.New())), ""
		}},
		{"payload changed after signing (sub of another user)", func(t *testing.T) (string, string) {
			header, payload, sig := split(t, idp.Token(t, "ann", resourceAPI))
			claims := decodeSegment(t, payload)
			claims["sub"], claims["client_id"], claims["email"] = "bob-7f3a", "bob-7f3a", "bob@shop.example"
			return bearer(header + "." + encodeSegment(t, claims) + "." + sig), ""
		}},
		{`alg none, empty signature`, func(t *testing.T) (string, string) {
			_, payload, _ := split(t, idp.Token(t, "ann", resourceAPI))
			return bearer(encodeSegment(t, map[string]any{"alg": "none"}) + "." + payload + "."), ""
		}},
		{`alg none with the provider's kid`, func(t *testing.T) (string, string) {
			_, payload, _ := split(t, idp.Token(t, "ann", resourceAPI))
			return bearer(encodeSegment(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": idp.KID}) + "." + payload + "."), ""
		}},
		{`alg NONE, the original signature kept`, func(t *testing.T) (string, string) {
			_, payload, sig := split(t, idp.Token(t, "ann", resourceAPI))
			return bearer(encodeSegment(t, map[string]any{"alg": "NONE", "kid": idp.KID}) + "." + payload + "." + sig), ""
		}},
		{"HS256 keyed with the provider's public key (PEM, SPKI)", hs256WithPublicKey(idp, idpKey, "spki-pem")},
		{"HS256 keyed with the provider's public key (PEM, PKCS#1)", hs256WithPublicKey(idp, idpKey, "pkcs1-pem")},
		{"HS256 keyed with the provider's public key (DER, SPKI)", hs256WithPublicKey(idp, idpKey, "spki-der")},
		{"HS256 keyed with the provider's public key (its JWK as served)", hs256WithPublicKey(idp, idpKey, "jwk")},
		{"HS256 keyed with the provider's public key (modulus bytes)", hs256WithPublicKey(idp, idpKey, "n")},
		{"no Authorization header and no cookie", func(*testing.T) (string, string) { return "", "" }},
		{"Bearer with nothing after it", func(*testing.T) (string, string) { return "Bearer ", "" }},
		{"a valid token under another scheme (Basic)", func(t *testing.T) (string, string) {
			return "Basic " + idp.Token(t, "ann", resourceAPI), ""
		}},
		{"a valid token in a cookie chattoken was not told about", func(t *testing.T) (string, string) {
			return "", "access_token=" + idp.Token(t, "ann", resourceAPI)
		}},
		{"not a JWT", func(*testing.T) (string, string) { return bearer("ann"), "" }},
	}
	for _, c := range refused {
		t.Run("refused/"+c.name, func(t *testing.T) {
			t.Parallel()
			for name, svc := range instances {
				t.Run(name, func(t *testing.T) {
					authorization, cookie := c.request(t)
					status, body := ask(t, svc, authorization, cookie)
					requireUnauthenticated(t, status, body)
				})
			}
		})
	}

	t.Run("refused/a valid token in the cookie of an instance without CHATTOKEN_JWT_COOKIE", func(t *testing.T) {
		t.Parallel()
		status, body := ask(t, instances["jwks"], "", sessionCookie+"="+idp.Token(t, "ann", resourceAPI))
		requireUnauthenticated(t, status, body)
	})

	t.Run("short-lived token accepted, then refused once exp and the leeway passed", func(t *testing.T) {
		t.Parallel()
		svc := instances["jwks"]
		const leeway = time.Second // the instance's CHATTOKEN_JWT_LEEWAY
		// A token is valid until exp plus the leeway. A refusal answered
		// before then is chattoken's mistake; one answered after it says
		// nothing (the machine was too slow for a 1s token), so a new
		// token is tried, a bounded number of times: acceptance is always
		// checked.
		var tok string
		var exp time.Time
		for try := 1; ; try++ {
			tok = idp.Token(t, "ann", resourceShortLived)
			exp = time.Unix(int64(unverifiedClaims(t, tok)["exp"].(float64)), 0)
			status, body := ask(t, svc, bearer(tok), "")
			if status == http.StatusOK {
				requireMinted(t, svc, status, body, "ann")
				break
			}
			requireUnauthenticated(t, status, body)
			if time.Now().Before(exp.Add(leeway)) {
				t.Fatalf("a token valid until %s (exp and %s of leeway) was refused before then", exp.Add(leeway).Format(time.RFC3339Nano), leeway)
			}
			if try == 5 {
				t.Fatalf("%d short-lived tokens in a row reached chattoken only after exp and the leeway had passed: acceptance could not be checked on this machine", try)
			}
			t.Logf("try %d: the token reached chattoken after exp and the leeway; trying a new one", try)
		}
		// exp, then the leeway, then a second for exp's whole-second rounding.
		time.Sleep(time.Until(exp.Add(leeway + time.Second + 100*time.Millisecond)))
		status, body := ask(t, svc, bearer(tok), "")
		requireUnauthenticated(t, status, body)
	})
}

// hs256WithPublicKey forges the classic algorithm-confusion token: the
// provider's real payload, alg HS256 and the provider's kid, with an HMAC
// whose secret is the provider's public key in one of its usual encodings.
func hs256WithPublicKey(idp *provider, key jwk, encoding string) func(*testing.T) (string, string) {
	return func(t *testing.T) (string, string) {
		pub := key.PublicKey(t)
		var secret []byte
		switch encoding {
		case "spki-pem", "spki-der":
			der, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			secret = der
			if encoding == "spki-pem" {
				secret = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			}
		case "pkcs1-pem":
			secret = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
		case "jwk":
			secret = key.raw
		case "n":
			secret = pub.N.Bytes()
		default:
			t.Fatalf("encoding %q", encoding)
		}
		_, payload, _ := split(t, idp.Token(t, "ann", resourceAPI))
		header := encodeSegment(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": idp.KID})
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(header + "." + payload))
		forged := header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		// The forgery is sound: a verifier confused into HMAC with this
		// secret would accept it.
		if _, err := jwt.Parse(forged, func(*jwt.Token) (any, error) { return secret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(idp.Issuer), jwt.WithAudience(apiAudience)); err != nil {
			t.Fatalf("the HS256 forgery does not verify with its own secret: %v", err)
		}
		return bearer(forged), ""
	}
}

// requireProviderSigned checks a provider token independently of
// chattoken: RS256 by the key its JWKS publishes, iss and aud as configured,
// so that a refusal of a forged variant is a refusal of the forgery alone.
func requireProviderSigned(t *testing.T, tok string, key *rsa.PublicKey, issuer string) {
	t.Helper()
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(issuer), jwt.WithAudience(apiAudience), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("the provider's token does not verify with the key its JWKS publishes: %v", err)
	}
}

// signRS256 signs header.payload (already encoded) with key, and checks
// that the result verifies with key's public half: a token that only the
// key is wrong about.
func signRS256(t *testing.T, header, payload string, key *rsa.PrivateKey) string {
	t.Helper()
	digest := sha256.Sum256([]byte(header + "." + payload))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	tok := header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(sig)
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(apiAudience)); err != nil {
		t.Fatalf("the RS256 forgery does not verify with its own key: %v", err)
	}
	return tok
}

func split(t *testing.T, tok string) (header, payload, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %q", tok)
	}
	return parts[0], parts[1], parts[2]
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func unverifiedClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	_, payload, _ := split(t, tok)
	return decodeSegment(t, payload)
}

// TestWrongIssuerWithTheRightKey: a second provider signs with the very key
// the trusted one publishes, under the same kid, but is another issuer. Its
// tokens verify against chattoken's keys, so only the iss check refuses
// them; the trusted provider's token with the same key is the control.
func TestWrongIssuerWithTheRightKey(t *testing.T) {
	t.Parallel()
	shared := privateJWK(testkeys.New(), "shared-"+randomHex(4))
	trusted := startProvider(t, providerOptions{SigningKey: shared})
	impostor := startProvider(t, providerOptions{SigningKey: shared})
	if trusted.KID != impostor.KID || trusted.Issuer == impostor.Issuer {
		t.Fatalf("providers: kid %s/%s, issuer %s/%s", trusted.KID, impostor.KID, trusted.Issuer, impostor.Issuer)
	}
	svc := startChattoken(t, map[string]string{
		"CHATTOKEN_JWT_ISSUER":   trusted.Issuer,
		"CHATTOKEN_JWT_AUDIENCE": apiAudience,
	})

	forged := impostor.Token(t, "ann", resourceAPI)
	// The impostor's token really is signed by the key chattoken trusts.
	requireProviderSigned(t, forged, trusted.PublicKeys(t)[trusted.KID].PublicKey(t), impostor.Issuer)
	status, body := ask(t, svc, bearer(forged), "")
	requireUnauthenticated(t, status, body)

	status, body = ask(t, svc, bearer(trusted.Token(t, "ann", resourceAPI)), "")
	requireMinted(t, svc, status, body, "ann")
}

// TestAlgorithmsPinned: the provider signs RS256; an instance that allows
// only ES256 refuses its tokens, valid as they are.
func TestAlgorithmsPinned(t *testing.T) {
	t.Parallel()
	idp := startProvider(t, providerOptions{})
	svc := startChattoken(t, map[string]string{
		"CHATTOKEN_JWT_ISSUER":     idp.Issuer,
		"CHATTOKEN_JWT_AUDIENCE":   apiAudience,
		"CHATTOKEN_JWT_ALGORITHMS": "ES256",
	})
	status, body := ask(t, svc, bearer(idp.Token(t, "ann", resourceAPI)), "")
	requireUnauthenticated(t, status, body)
}

// jwksRefetchEvery is chattoken's limit on refetching the keys for an
// unknown kid.
const jwksRefetchEvery = 5 * time.Second

// TestKeyRotation: the provider rotates its signing key while chattoken
// runs. A token under the new kid is accepted without a restart (chattoken
// refetches the JWKS for an unknown kid, at most once every 5s), tokens of
// the previous key, still published, go on being accepted, and a flood of
// unknown kids does not become a flood of JWKS fetches.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	testKeyRotation(t, 0)
}

// TestKeyRotationWithNetworkLatency is the same with a provider whose JWKS
// answers in 20ms, as one across a network does.
func TestKeyRotationWithNetworkLatency(t *testing.T) {
	t.Parallel()
	testKeyRotation(t, 20*time.Millisecond)
}

func testKeyRotation(t *testing.T, jwksDelay time.Duration) {
	idp := startProvider(t, providerOptions{JWKSDelay: jwksDelay})
	svc := startChattoken(t, map[string]string{
		"CHATTOKEN_JWT_ISSUER":   idp.Issuer,
		"CHATTOKEN_JWT_AUDIENCE": apiAudience,
	})
	before := idp.Token(t, "ann", resourceAPI)
	status, body := ask(t, svc, bearer(before), "")
	requireMinted(t, svc, status, body, "ann")
	oldKID := idp.KID

	newKID := idp.Rotate(t)
	after := idp.Token(t, "bob-7f3a", resourceAPI)
	if h := decodeSegment(t, strings.Split(after, ".")[0]); h["kid"] != newKID {
		t.Fatalf("after rotation the provider signs under kid %v; want %s", h["kid"], newKID)
	}
	if keys := idp.PublicKeys(t); len(keys) != 2 || keys[oldKID].KID == "" || keys[newKID].KID == "" {
		t.Fatalf("after rotation the JWKS has %d keys; want the old %s and the new %s", len(keys), oldKID, newKID)
	}

	// Two refetch windows and a margin: the first try may land inside the
	// window of an earlier refetch.
	deadline := time.Now().Add(2*jwksRefetchEvery + 2*time.Second)
	start := time.Now()
	tries := 0
	for {
		tries++
		status, body = ask(t, svc, bearer(after), "")
		if status == http.StatusOK {
			break
		}
		requireUnauthenticated(t, status, body)
		if time.Now().After(deadline) {
			t.Fatalf("a token under the rotated kid %s was still refused %s after the rotation (%d tries): chattoken did not refetch the provider's keys for an unknown kid; its log:\n%s",
				newKID, time.Since(start).Round(time.Millisecond), tries, svc.Logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("the rotated kid was accepted after %s (%d tries)", time.Since(start).Round(time.Millisecond), tries)
	requireMinted(t, svc, status, body, "bob-7f3a")

	// The previous key is still published: its tokens still pass.
	status, body = ask(t, svc, bearer(before), "")
	requireMinted(t, svc, status, body, "ann")

	// Unknown kids cost at most one JWKS fetch per window, and are refused
	// at once: none is held waiting for the refetch limiter.
	fetches := idp.JWKSRequests(t)
	floodStart := time.Now()
	_, payload, _ := split(t, after)
	attacker := testkeys.New()
	const flood = 30
	for i := range flood {
		header := encodeSegment(t, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "unknown-" + randomHex(4)})
		tok := signRS256(t, header, payload, attacker)
		asked := time.Now()
		status, body := ask(t, svc, bearer(tok), "")
		if status != http.StatusUnauthorized {
			t.Fatalf("unknown kid #%d: %d %s", i, status, body)
		}
		if took := time.Since(asked); took > time.Second {
			t.Fatalf("unknown kid #%d was refused after %s: a token with an unknown kid must not hold its request waiting for the refetch limiter", i, took.Round(time.Millisecond))
		}
	}
	elapsed := time.Since(floodStart)
	allowed := 1 + int(elapsed/jwksRefetchEvery)
	if got := idp.JWKSRequests(t) - fetches; got > allowed {
		t.Errorf("%d tokens with unknown kids in %s made chattoken fetch the JWKS %d times; want at most %d (once per %s)",
			flood, elapsed.Round(time.Millisecond), got, allowed, jwksRefetchEvery)
	} else {
		t.Logf("%d unknown kids in %s: %d JWKS fetches", flood, elapsed.Round(time.Millisecond), got)
	}
}

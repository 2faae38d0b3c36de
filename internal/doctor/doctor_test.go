package doctor

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/inspect"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/testkeys"
)

const (
	prefix     = "/chat-auth"
	pageOrigin = "https://shop.example"
	goodCookie = "session=ann"
	goodBearer = "ann-access-token"
)

// site is a stand-in for a chattoken deployment under /chat-auth/ that
// answers as chattoken does; each test breaks one thing of it.
type site struct {
	key     *rsa.PrivateKey
	kid     string
	keyBody string
	// keyAnswer, when set, answers /publickey instead.
	keyAnswer  http.HandlerFunc
	clientType string
	// cors answers the Access-Control-Allow-Origin for an origin.
	cors func(origin string) string
	// anonymous, when set, answers /token without a session.
	anonymous   http.HandlerFunc
	method      jwt.SigningMethod
	signWith    any
	claims      func(jwt.MapClaims)
	expiresIn   func(exp int64, now time.Time) any
	clockOffset time.Duration
	noDate      bool
	mu          sync.Mutex
	keyRequests []http.Header
}

func publicPEM(t *testing.T, pub *rsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// keyArray is Omnichannel's key array of the given keys, all with expiry.
func keyArray(t *testing.T, expiry time.Time, pubs ...*rsa.PublicKey) string {
	t.Helper()
	var entries []map[string]any
	for _, pub := range pubs {
		entries = append(entries, map[string]any{"kid": keys.Thumbprint(pub),
			"publicKey": base64.StdEncoding.EncodeToString([]byte(publicPEM(t, pub))), "expiry": expiry.Unix()})
	}
	data, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func newSite(t *testing.T) *site {
	key := testkeys.RSA(0)
	return &site{
		key: key, kid: keys.Thumbprint(&key.PublicKey), keyBody: publicPEM(t, &key.PublicKey),
		clientType: "text/javascript; charset=utf-8",
		cors: func(origin string) string {
			if origin == pageOrigin {
				return origin
			}
			return ""
		},
		method: jwt.SigningMethodRS256, signWith: key,
		expiresIn: func(exp int64, now time.Time) any { return exp - now.Unix() },
	}
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now().Add(s.clockOffset)
	if s.noDate {
		w.Header()["Date"] = nil
	} else {
		w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	}
	origin := r.Header.Get("Origin")
	if allowed := s.cors(origin); allowed != "" && r.URL.Path == prefix+"/token" {
		w.Header().Set("Access-Control-Allow-Origin", allowed)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Vary", "Origin")
	}
	switch {
	case r.URL.Path == prefix+"/publickey":
		s.mu.Lock()
		s.keyRequests = append(s.keyRequests, r.Header.Clone())
		s.mu.Unlock()
		if s.keyAnswer != nil {
			s.keyAnswer(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, s.keyBody)
	case r.URL.Path == prefix+"/client.js":
		w.Header().Set("Content-Type", s.clientType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fmt.Fprint(w, "(function () { /* chattoken client */ })();")
	case r.URL.Path == prefix+"/token" && r.Method == http.MethodOptions:
		if s.cors(origin) != "" {
			w.Header().Set("Access-Control-Allow-Methods", r.Header.Get("Access-Control-Request-Method"))
			w.Header().Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
		}
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == prefix+"/token":
		signedIn := r.Header.Get("Cookie") == goodCookie || r.Header.Get("Authorization") == "Bearer "+goodBearer
		if !signedIn && s.anonymous != nil {
			s.anonymous(w, r)
			return
		}
		if !signedIn {
			problemAnswer(w, http.StatusUnauthorized, "unauthenticated")
			return
		}
		s.mint(w, now)
	default:
		problemAnswer(w, http.StatusNotFound, "not_found")
	}
}

// keyHeaders are the headers of every request for /publickey so far.
func (s *site) keyHeaders() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.keyRequests...)
}

func problemAnswer(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","status":%d,"code":%q,"request_id":"r-1"}`, status, code)
}

// mint answers a token as chattoken does, by the site's own clock.
func (s *site) mint(w http.ResponseWriter, now time.Time) {
	claims := jwt.MapClaims{"sub": "c-ann", "iss": "https://shop.example",
		"iat": now.Unix(), "nbf": now.Unix() - 30, "exp": now.Unix() + 600,
		"lwicontexts": `{"msdyn_isvip":"false"}`}
	if s.claims != nil {
		s.claims(claims)
	}
	tok := jwt.NewWithClaims(s.method, claims)
	tok.Header["kid"] = s.kid
	raw, err := tok.SignedString(s.signWith)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": raw, "expires_in": s.expiresIn(now.Unix()+600, now)})
}

func (s *site) start(t *testing.T) string {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL + prefix
}

func run(t *testing.T, opts Options) *Report {
	t.Helper()
	report, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return report
}

func find(r *Report, name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func lines(r *Report) string {
	var b strings.Builder
	for _, c := range r.Checks {
		b.WriteString(c.Line() + "\n")
	}
	return b.String()
}

func TestHealthyDeployment(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	base := s.start(t)
	r := run(t, Options{BaseURL: base, Cookie: goodCookie, Origin: pageOrigin})
	if !r.OK {
		t.Fatalf("a healthy deployment failed:\n%s", lines(r))
	}
	for _, c := range r.Checks {
		if c.Status != Pass {
			t.Errorf("not a pass: %s", c.Line())
		}
	}
	for _, name := range []string{"public key URL", "public key", "client.js", "CORS", "other origins", "anonymous", "token", "expires_in", "clock"} {
		if _, ok := find(r, name); !ok {
			t.Errorf("no %q check:\n%s", name, lines(r))
		}
	}
	if c, _ := find(r, "token"); !strings.Contains(c.Detail, "sub c-ann") || !strings.Contains(c.Detail, "alg RS256") {
		t.Errorf("token line %q", c.Line())
	}
	if r.Settings != (Settings{PublicKeyURL: base + "/publickey", ClientFunction: "chattoken.authTokenProvider"}) {
		t.Errorf("settings %+v", r.Settings)
	}
	// Microsoft's servers fetch the key without the visitor's cookie: so
	// does the doctor, though it was given one.
	for _, h := range s.keyHeaders() {
		if h.Get("Cookie") != "" || h.Get("Authorization") != "" {
			t.Errorf("/publickey was asked with credentials: %v", h)
		}
	}

	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"✓ public key URL  " + base + "/publickey: plain http, accepted on loopback only",
		"Public key URL              " + base + "/publickey\n", "JavaScript client function  chattoken.authTokenProvider\n",
		"9 checks: 9 passed, 0 warnings, 0 failed."} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var decoded Report
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil || !decoded.OK || len(decoded.Checks) != 9 || decoded.Settings != r.Settings {
		t.Errorf("JSON report %v:\n%s", err, js.String())
	}
	if strings.Contains(text.String()+js.String(), goodCookie) {
		t.Errorf("the report repeats the cookie")
	}
}

// TestBrokenDeployments breaks the stand-in one way at a time: each break
// is reported on its own line, with the widget error it causes, and fails
// the report unless it is only a warning.
func TestBrokenDeployments(t *testing.T) {
	t.Parallel()
	other := testkeys.RSA(1)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	hmacSecret := []byte(strings.Repeat("s", 32))
	tests := []struct {
		name   string
		breaks func(t *testing.T, s *site)
		opts   Options
		check  string
		status Status
		want   string
		widget inspect.WidgetError
	}{
		{"JSON-quoted PEM", func(t *testing.T, s *site) {
			quoted, _ := json.Marshal(s.keyBody)
			s.keyBody = string(quoted)
		}, Options{}, "public key", Fail, "JSON-quoted string holding a PEM", inspect.InvalidToken},
		{"JSON-quoted PEM leaves the signature unchecked", func(t *testing.T, s *site) {
			quoted, _ := json.Marshal(s.keyBody)
			s.keyBody = string(quoted)
		}, Options{Cookie: goodCookie}, "token signature", Fail, "not checked: the public key URL gave no key", inspect.InvalidToken},
		{"expired key array", func(t *testing.T, s *site) {
			s.keyBody = keyArray(t, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), &s.key.PublicKey, &other.PublicKey)
		}, Options{}, "public key", Fail, "expired at 2020-01-01T00:00:00Z", inspect.InvalidToken},
		{"key array expiring within a week", func(t *testing.T, s *site) {
			s.keyBody = keyArray(t, time.Now().Add(3*24*time.Hour), &s.key.PublicKey, &other.PublicKey)
		}, Options{}, "public key", Warn, "expires in 72h0m0s", 0},
		{"the same kid twice", func(t *testing.T, s *site) {
			s.keyBody = strings.ReplaceAll(keyArray(t, time.Now().Add(48*time.Hour), &s.key.PublicKey, &other.PublicKey),
				keys.Thumbprint(&other.PublicKey), s.kid)
		}, Options{}, "public key", Fail, "appears twice", inspect.InvalidToken},
		{"a 1024-bit key", func(t *testing.T, s *site) {
			s.keyBody = publicPEM(t, &weak.PublicKey)
		}, Options{}, "public key", Fail, "RSA of 1024 bits; at least 2048", inspect.InvalidToken},
		{"the key behind a sign-in redirect", func(t *testing.T, s *site) {
			s.keyAnswer = func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://login.shop.example/?return=secret-return", http.StatusFound)
			}
		}, Options{}, "public key", Fail, "answers 302, a redirect to https://login.shop.example/ without cookies", inspect.InvalidToken},
		{"the key behind sign-in", func(t *testing.T, s *site) {
			s.keyAnswer = func(w http.ResponseWriter, r *http.Request) {
				problemAnswer(w, http.StatusUnauthorized, "unauthenticated")
			}
		}, Options{}, "public key", Fail, "answers 401 unauthenticated", inspect.InvalidToken},
		{"client.js as text/plain", func(t *testing.T, s *site) { s.clientType = "text/plain" },
			Options{}, "client.js", Fail, `served as "text/plain"`, inspect.ProviderFailed},
		{"a wildcard CORS answer", func(t *testing.T, s *site) { s.cors = func(string) string { return "*" } },
			Options{Origin: pageOrigin}, "other origins", Fail, "Access-Control-Allow-Origin: * to any origin", 0},
		{"a wildcard is no CORS for the page either", func(t *testing.T, s *site) { s.cors = func(string) string { return "*" } },
			Options{Origin: pageOrigin}, "CORS", Fail, "Access-Control-Allow-Origin is *, which browsers refuse on a request with credentials (the preflight, the 401 answer)", inspect.NoToken},
		{"CORS echoing any origin", func(t *testing.T, s *site) { s.cors = func(o string) string { return o } },
			Options{}, "other origins", Fail, "echoes any origin", 0},
		{"the page's origin not listed", func(t *testing.T, s *site) { s.cors = func(string) string { return "" } },
			Options{Origin: pageOrigin}, "CORS", Fail, "CHATTOKEN_CORS_ORIGINS", inspect.NoToken},
		{"a token for anonymous visitors", func(t *testing.T, s *site) {
			s.anonymous = func(w http.ResponseWriter, r *http.Request) { s.mint(w, time.Now()) }
		}, Options{}, "anonymous", Fail, `minted a token for a visitor without credentials (sub "c-ann")`, 0},
		{"a sign-in redirect on /token", func(t *testing.T, s *site) {
			s.anonymous = func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusFound) }
		}, Options{}, "anonymous", Fail, "answers 302, a redirect to /login", inspect.NoToken},
		{"a proxy's own 401 page", func(t *testing.T, s *site) {
			s.anonymous = func(w http.ResponseWriter, r *http.Request) { http.Error(w, "<h1>401</h1>", http.StatusUnauthorized) }
		}, Options{}, "anonymous", Fail, "want 401 application/problem+json", inspect.NoToken},
		{"an HS256 token", func(t *testing.T, s *site) { s.method, s.signWith = jwt.SigningMethodHS256, hmacSecret },
			Options{Cookie: goodCookie}, "token alg", Fail, "RS256 only", inspect.InvalidToken},
		{"a token by an unpublished key", func(t *testing.T, s *site) { s.signWith = other },
			Options{Cookie: goodCookie}, "token signature (publickey)", Fail, "invalid", inspect.InvalidToken},
		{"a kid missing from the array", func(t *testing.T, s *site) {
			s.keyBody = keyArray(t, time.Now().Add(48*time.Hour), &other.PublicKey, &weak.PublicKey)
		}, Options{Cookie: goodCookie}, "token signature (publickey)", Fail, "is not among the 2 published keys", inspect.InvalidToken},
		{"lwicontexts sent as an object", func(t *testing.T, s *site) {
			s.claims = func(c jwt.MapClaims) { c["lwicontexts"] = map[string]any{"msdyn_isvip": "false"} }
		}, Options{Cookie: goodCookie}, "token lwicontexts", Fail, "sent as an object", inspect.InvalidToken},
		{"a token over 8 KiB", func(t *testing.T, s *site) {
			s.claims = func(c jwt.MapClaims) { c["pad"] = strings.Repeat("p", 7000) }
		}, Options{Cookie: goodCookie}, "token size", Fail, "too large to travel in an HTTP header", inspect.InvalidToken},
		{"a token over 4 KiB", func(t *testing.T, s *site) {
			s.claims = func(c jwt.MapClaims) { c["pad"] = strings.Repeat("p", 3500) }
		}, Options{Cookie: goodCookie}, "token size", Warn, "some proxies refuse", 0},
		{"credentials refused", func(t *testing.T, s *site) {}, Options{Cookie: "session=nobody"},
			"token", Fail, "answers 401 unauthenticated with the credentials given", inspect.NoToken},
		{"expires_in not agreeing with exp", func(t *testing.T, s *site) {
			s.expiresIn = func(exp int64, now time.Time) any { return exp - now.Unix() + 60 }
		}, Options{Cookie: goodCookie}, "expires_in", Fail, "660 s, but exp is", inspect.InvalidToken},
		{"expires_in as a string", func(t *testing.T, s *site) {
			s.expiresIn = func(exp int64, now time.Time) any { return fmt.Sprint(exp - now.Unix()) }
		}, Options{Cookie: goodCookie}, "expires_in", Fail, "not a whole number", inspect.InvalidToken},
		{"a clock 2 minutes ahead", func(t *testing.T, s *site) { s.clockOffset = 2 * time.Minute },
			Options{Cookie: goodCookie}, "clock", Fail, "ahead of this machine's; at most 30s is safe", inspect.InvalidToken},
		{"a clock 2 minutes behind, seen without credentials", func(t *testing.T, s *site) { s.clockOffset = -2 * time.Minute },
			Options{}, "clock", Fail, "behind this machine's; at most 30s is safe", inspect.InvalidToken},
		{"no Date header", func(t *testing.T, s *site) { s.noDate = true },
			Options{}, "clock", Warn, "no Date header", 0},
		{"no credentials: the token is not checked", func(t *testing.T, s *site) {},
			Options{}, "token", Warn, "give --cookie", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			tt.breaks(t, s)
			tt.opts.BaseURL = s.start(t)
			r := run(t, tt.opts)
			c, ok := find(r, tt.check)
			if !ok || c.Status != tt.status || !strings.Contains(c.Line(), tt.want) || c.Widget != tt.widget {
				t.Fatalf("%s: got %q (widget %d); want %s containing %q, widget %d; all:\n%s",
					tt.check, c.Line(), c.Widget, tt.status, tt.want, tt.widget, lines(r))
			}
			if tt.widget != 0 && !strings.HasSuffix(c.Line(), "The widget reports "+tt.widget.String()) {
				t.Errorf("the line does not name the widget error: %q", c.Line())
			}
			if r.OK != (tt.status == Warn) {
				t.Errorf("OK = %v with a %s:\n%s", r.OK, tt.status, lines(r))
			}
			if strings.Contains(lines(r), "secret-return") {
				t.Errorf("a redirect's query reached the report:\n%s", lines(r))
			}
		})
	}
}

// TestKeyURL judges the URL itself, before anything is fetched.
func TestKeyURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		base   string
		status Status
		want   string
	}{
		{"https://shop.example/chat-auth", Pass, "https://shop.example/chat-auth/publickey: HTTPS, 40 characters"},
		{"http://shop.example/chat-auth", Fail, "plain http: Microsoft's servers fetch the key over HTTPS only"},
		{"http://localhost:8080", Pass, "plain http, accepted on loopback only"},
		{"http://[::1]:8080", Pass, "plain http, accepted on loopback only"},
		{"https://shop.example/" + strings.Repeat("a", 225), Pass, "256 characters"},
		{"https://shop.example/" + strings.Repeat("a", 226), Fail, "257 characters; Omnichannel accepts at most 256"},
	} {
		base, err := parseBaseURL(tc.base)
		if err != nil {
			t.Fatal(err)
		}
		d := &doctor{base: base}
		d.report.Settings.PublicKeyURL = d.url("/publickey")
		d.checkKeyURL()
		if c := d.report.Checks[0]; c.Status != tc.status || !strings.Contains(c.Detail, tc.want) {
			t.Errorf("%s: %s", tc.base, c.Line())
		}
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{
		{BaseURL: "shop.example/chat-auth"},
		{BaseURL: "ftp://shop.example"},
		{BaseURL: "https://shop.example/chat-auth?x=1"},
		{BaseURL: "https://user:pw@shop.example/chat-auth"},
		{BaseURL: "https://shop.example", Origin: "https://shop.example/page"},
		{BaseURL: "https://shop.example", Origin: "shop.example"},
		{BaseURL: "https://shop.example", CAFile: "/nonexistent/ca.pem"},
	} {
		if _, err := Run(context.Background(), opts); err == nil {
			t.Errorf("%+v accepted", opts)
		}
	}
	if _, err := NewClient([]byte("not a certificate")); err == nil {
		t.Error("a CA file without a certificate was accepted")
	}
}

// TestTLS: a certificate this machine does not trust is reported with the
// way out, and trusting its CA (--cacert) makes the same deployment pass;
// the page on the service's own origin needs no CORS.
func TestTLS(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	base := srv.URL + prefix

	untrusted := run(t, Options{BaseURL: base})
	if c, _ := find(untrusted, "public key"); c.Status != Fail || !strings.Contains(c.Detail, "give --cacert") {
		t.Errorf("untrusted certificate: %s", c.Line())
	}

	client, err := NewClient(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	trusted := run(t, Options{BaseURL: base, Cookie: goodCookie, Origin: "https://" + u.Host, Client: client})
	if !trusted.OK {
		t.Fatalf("with its CA trusted:\n%s", lines(trusted))
	}
	if c, _ := find(trusted, "public key URL"); !strings.Contains(c.Detail, ": HTTPS, ") {
		t.Errorf("key URL: %s", c.Line())
	}
	if c, _ := find(trusted, "CORS"); c.Status != Pass || !strings.Contains(c.Detail, "own origin: no CORS needed") {
		t.Errorf("same origin: %s", c.Line())
	}
}

// TestClockOffExpiresInAgrees: a server whose clock is off mints by that
// clock; its expires_in still agrees with its exp, and only the clock is
// blamed.
func TestClockOffExpiresInAgrees(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.clockOffset = 2 * time.Minute
	r := run(t, Options{BaseURL: s.start(t), Cookie: goodCookie})
	if c, _ := find(r, "expires_in"); c.Status != Pass {
		t.Errorf("expires_in: %s", c.Line())
	}
	if c, _ := find(r, "clock"); c.Status != Fail {
		t.Errorf("clock: %s", c.Line())
	}
}

// TestBearer: an access token (jwt mode) is sent as Authorization to
// /token, and to nothing else.
func TestBearer(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	r := run(t, Options{BaseURL: s.start(t), Bearer: goodBearer})
	if c, _ := find(r, "token"); !r.OK || c.Status != Pass {
		t.Fatalf("with a bearer token:\n%s", lines(r))
	}
	for _, h := range s.keyHeaders() {
		if h.Get("Authorization") != "" {
			t.Errorf("/publickey was asked with the bearer token")
		}
	}
	if strings.Contains(lines(r), goodBearer) {
		t.Errorf("the report repeats the bearer token:\n%s", lines(r))
	}
}

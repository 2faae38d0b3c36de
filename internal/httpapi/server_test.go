package httpapi

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/metrics"
	"github.com/chattoken/chattoken/internal/session"
	"github.com/chattoken/chattoken/internal/testkeys"
	"github.com/chattoken/chattoken/internal/token"
)

// fakeSource is a session.Source whose behaviour each test chooses.
type fakeSource struct {
	lookup func(ctx context.Context, r *http.Request) (jsondoc.Document, error)
}

var _ session.Source = fakeSource{}

func (f fakeSource) Lookup(ctx context.Context, r *http.Request) (jsondoc.Document, error) {
	return f.lookup(ctx, r)
}

// signedIn answers with doc for every request and counts the calls.
func signedIn(doc jsondoc.Document, calls *atomic.Int32) fakeSource {
	return fakeSource{lookup: func(context.Context, *http.Request) (jsondoc.Document, error) {
		if calls != nil {
			calls.Add(1)
		}
		return doc, nil
	}}
}

func failing(err error) fakeSource {
	return fakeSource{lookup: func(context.Context, *http.Request) (jsondoc.Document, error) { return nil, err }}
}

func testRSAKey() *rsa.PrivateKey { return testkeys.RSA(0) }

// syncBuffer is a log sink that parallel requests may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*httptest.Server
	set     *keys.Set
	ready   *atomic.Bool
	log     *syncBuffer
	metrics *metrics.Metrics
}

func newTestServer(t *testing.T, src session.Source, set *keys.Set) *testServer {
	t.Helper()
	if set == nil {
		var err error
		if set, err = keys.NewRSASet(testRSAKey()); err != nil {
			t.Fatal(err)
		}
	}
	ts := &testServer{set: set, ready: &atomic.Bool{}, log: &syncBuffer{}, metrics: metrics.New(nil)}
	ts.ready.Store(true)
	sub, _ := jsondoc.ParsePath("user.id")
	email, _ := jsondoc.ParsePath("user.email")
	minter := &token.Minter{
		Issuer: "https://shop.example", TTL: 15 * time.Minute, ClockSkew: 30 * time.Second,
		Keys: func() *keys.Set { return set }, Now: time.Now,
	}
	ts.Server = httptest.NewServer(NewServer(Deps{
		Log:      zerolog.New(ts.log),
		Sessions: src,
		Minter:   minter,
		Keys:     minter.Keys,
		Claims:   token.Assembler{Subject: sub, Identity: []jsondoc.Field{{Name: "email", Path: email}}},
		Ready:    ts.ready,
		Metrics:  ts.metrics,
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) do(t *testing.T, method, path, contentType, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Cookie", "session=very-secret-cookie")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkProblem asserts a problem+json answer with the given status and code.
func checkProblem(t *testing.T, resp *http.Response, status int, code string) problem {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if p.Code != code || p.Status != status || p.Title != http.StatusText(status) || p.Detail == "" {
		t.Errorf("problem %+v, want code %s status %d with a title and detail", p, code, status)
	}
	if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-Id") {
		t.Errorf("problem request_id %q, header %q", p.RequestID, resp.Header.Get("X-Request-Id"))
	}
	return p
}

func TestTokenIsSignedForTheSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, signedIn(jsondoc.Document{
		"user": map[string]any{"id": "contact-42", "email": "ann@shop.example"},
	}, nil), nil)
	for _, req := range []struct{ method, contentType, body string }{
		{http.MethodGet, "", ""},
		{http.MethodPost, "", ""},
		{http.MethodPost, "application/json", `{}`},
		{http.MethodPost, "application/json; charset=utf-8", `{"context":{}}`},
	} {
		t.Run(fmt.Sprintf("%s %q", req.method, req.body), func(t *testing.T) {
			resp := ts.do(t, req.method, "/token", req.contentType, req.body)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", resp.Header)
			}
			var got tokenResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.ExpiresIn < 899 || got.ExpiresIn > 900 {
				t.Errorf("expires_in = %d", got.ExpiresIn)
			}
			claims := jwt.MapClaims{}
			_, err := jwt.ParseWithClaims(got.Token, claims,
				func(*jwt.Token) (any, error) { return &testRSAKey().PublicKey, nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("https://shop.example"))
			if err != nil {
				t.Fatalf("token does not verify: %v", err)
			}
			if claims["sub"] != "contact-42" || claims["email"] != "ann@shop.example" {
				t.Errorf("claims %v", claims)
			}
		})
	}
	logs := ts.log.String()
	if !strings.Contains(logs, `"sub":"contact-42"`) || !strings.Contains(logs, `"jti":"`) {
		t.Errorf("access log lacks sub/jti: %s", logs)
	}
	if strings.Contains(logs, "very-secret-cookie") || strings.Contains(logs, "eyJ") {
		t.Errorf("access log leaks a cookie or token: %s", logs)
	}
}

func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	good := jsondoc.Document{"user": map[string]any{"id": "contact-1"}}
	tests := []struct {
		name        string
		src         session.Source
		method      string
		contentType string
		body        string
		status      int
		code        string
		noLookup    bool
	}{
		{"not signed in", failing(fmt.Errorf("%w: 401", session.ErrUnauthenticated)), "GET", "", "", 401, CodeUnauthenticated, false},
		{"backend down", failing(fmt.Errorf("%w: refused", session.ErrUnavailable)), "GET", "", "", 503, CodeSessionUnavailable, false},
		{"unexpected source error", failing(fmt.Errorf("boom")), "GET", "", "", 500, CodeInternal, false},
		{"no subject", signedIn(jsondoc.Document{"user": map[string]any{}}, nil), "GET", "", "", 502, CodeInvalidSessionDocument, false},
		{"empty subject", signedIn(jsondoc.Document{"user": map[string]any{"id": ""}}, nil), "GET", "", "", 502, CodeInvalidSessionDocument, false},
		{"numeric subject", signedIn(jsondoc.Document{"user": map[string]any{"id": json.Number("7")}}, nil), "GET", "", "", 502, CodeInvalidSessionDocument, false},
		{"object identity claim", signedIn(jsondoc.Document{"user": map[string]any{"id": "c", "email": map[string]any{}}}, nil), "GET", "", "", 502, CodeInvalidSessionDocument, false},
		{"text body", signedIn(good, nil), "POST", "text/plain", "hello", 415, CodeUnsupportedMediaType, true},
		{"form body", signedIn(good, nil), "POST", "application/x-www-form-urlencoded", "a=b", 415, CodeUnsupportedMediaType, true},
		{"json without content type", signedIn(good, nil), "POST", "", `{}`, 415, CodeUnsupportedMediaType, true},
		{"malformed json", signedIn(good, nil), "POST", "application/json", `{"context":`, 400, CodeInvalidRequest, true},
		{"json array", signedIn(good, nil), "POST", "application/json", `[]`, 400, CodeInvalidRequest, true},
		{"unknown member", signedIn(good, nil), "POST", "application/json", `{"sub":"someone-else"}`, 400, CodeInvalidRequest, true},
		{"context not an object", signedIn(good, nil), "POST", "application/json", `{"context":"x"}`, 400, CodeInvalidRequest, true},
		{"json null", signedIn(good, nil), "POST", "application/json", `null`, 400, CodeInvalidRequest, true},
		{"context null", signedIn(good, nil), "POST", "application/json", `{"context":null}`, 400, CodeInvalidRequest, true},
		{"two json values", signedIn(good, nil), "POST", "application/json", `{}{}`, 400, CodeInvalidRequest, true},
		{"context without a schema", signedIn(good, nil), "POST", "application/json", `{"context":{"msdyn_x":"1"}}`, 400, CodeInvalidContext, true},
		{"body over 16 KiB", signedIn(good, nil), "POST", "application/json", `{"context":{"a":"` + strings.Repeat("x", 16<<10) + `"}}`, 413, CodePayloadTooLarge, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			src := fakeSource{lookup: func(ctx context.Context, r *http.Request) (jsondoc.Document, error) {
				calls.Add(1)
				return tt.src.Lookup(ctx, r)
			}}
			ts := newTestServer(t, src, nil)
			resp := ts.do(t, tt.method, "/token", tt.contentType, tt.body)
			checkProblem(t, resp, tt.status, tt.code)
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Error("an error from /token lacks Cache-Control: no-store")
			}
			if tt.noLookup && calls.Load() != 0 {
				t.Error("a malformed request reached the session backend")
			}
			logs := ts.log.String()
			if strings.Contains(logs, "very-secret-cookie") {
				t.Errorf("log leaks the cookie: %s", logs)
			}
			wantLevel := `"level":"info"`
			if tt.status >= 500 {
				wantLevel = `"level":"error"`
			}
			if !strings.Contains(logs, wantLevel) || !strings.Contains(logs, `"code":"`+tt.code+`"`) {
				t.Errorf("log %s: want %s with code %s", logs, wantLevel, tt.code)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, signedIn(jsondoc.Document{"user": map[string]any{"id": "c"}}, nil), nil)
	t.Run("wrong method is 405 with Allow", func(t *testing.T) {
		resp := ts.do(t, http.MethodDelete, "/token", "", "")
		checkProblem(t, resp, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
		if got := resp.Header.Get("Allow"); got != "GET, HEAD, POST, OPTIONS" {
			t.Errorf("Allow = %q", got)
		}
		resp = ts.do(t, http.MethodPost, "/publickey", "", "")
		checkProblem(t, resp, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
		if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("Allow = %q", got)
		}
	})
	t.Run("unknown path is 404", func(t *testing.T) {
		checkProblem(t, ts.do(t, http.MethodGet, "/nope", "", ""), http.StatusNotFound, CodeNotFound)
	})
	t.Run("health and readiness", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			if resp := ts.do(t, http.MethodGet, path, "", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d", path, resp.StatusCode)
			}
			if resp := ts.do(t, http.MethodHead, path, "", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("HEAD %s = %d", path, resp.StatusCode)
			}
		}
	})
	t.Run("security headers everywhere", func(t *testing.T) {
		for _, path := range []string{"/token", "/publickey", "/nope", "/healthz"} {
			resp := ts.do(t, http.MethodGet, path, "", "")
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s lacks security headers: %v", path, resp.Header)
			}
		}
	})
}

func TestReadyzTurnsUnavailable(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, failing(session.ErrUnauthenticated), nil)
	ts.ready.Store(false)
	checkProblem(t, ts.do(t, http.MethodGet, "/readyz", "", ""), http.StatusServiceUnavailable, CodeShuttingDown)
	if resp := ts.do(t, http.MethodGet, "/healthz", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz = %d while shutting down; want 200", resp.StatusCode)
	}
}

func TestPublishedKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, failing(session.ErrUnauthenticated), nil)
	for path, want := range map[string]struct {
		body        taggedBody
		contentType string
	}{
		"/publickey":             {newTaggedBody(ts.set.Published.PEM), "text/plain; charset=utf-8"},
		"/.well-known/jwks.json": {newTaggedBody(ts.set.Published.JWKS), "application/json"},
	} {
		t.Run(path, func(t *testing.T) {
			resp := ts.do(t, http.MethodGet, path, "", "")
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want.body.data) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if resp.Header.Get("Content-Type") != want.contentType || resp.Header.Get("ETag") != want.body.etag ||
				resp.Header.Get("Cache-Control") != "public, max-age=60" {
				t.Errorf("headers %v", resp.Header)
			}
			req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
			req.Header.Set("If-None-Match", want.body.etag)
			cond, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = cond.Body.Close()
			if cond.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match answered %d, want 304", cond.StatusCode)
			}
			// Range is outside the contract: the whole body comes back.
			req.Header.Del("If-None-Match")
			req.Header.Set("Range", "bytes=0-3")
			ranged, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := readBody(t, ranged); ranged.StatusCode != http.StatusOK || !bytes.Equal(got, want.body.data) {
				t.Errorf("a Range request answered %d with %d bytes", ranged.StatusCode, len(got))
			}
		})
	}
}

func TestHMACPublishesNothing(t *testing.T) {
	t.Parallel()
	set, err := keys.NewHMACSet([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, signedIn(jsondoc.Document{"user": map[string]any{"id": "c"}}, nil), set)
	for _, path := range []string{"/publickey", "/.well-known/jwks.json"} {
		checkProblem(t, ts.do(t, http.MethodGet, path, "", ""), http.StatusNotFound, CodeNotFound)
	}
	resp := ts.do(t, http.MethodGet, "/token", "", "")
	var got tokenResponse
	if err := json.Unmarshal(readBody(t, resp), &got); err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(got.Token, func(*jwt.Token) (any, error) { return set.Signer.Public, nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatalf("HS256 token does not verify: %v", err)
	}
}

func TestPanicIsA500(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, fakeSource{lookup: func(context.Context, *http.Request) (jsondoc.Document, error) {
		panic("bug")
	}}, nil)
	checkProblem(t, ts.do(t, http.MethodGet, "/token", "", ""), http.StatusInternalServerError, CodeInternal)
	if !strings.Contains(ts.log.String(), "panic: bug") {
		t.Errorf("the panic is not in the log: %s", ts.log.String())
	}
}

package devmode

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/httpapi"
)

// devService runs dev mode in process as `chattoken dev` wires it: the
// production handler built from Deps, behind Handler.
func devService(t *testing.T) *httptest.Server {
	t.Helper()
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	deps, err := Deps(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	deps.Log, deps.Ready = zerolog.Nop(), &atomic.Bool{}
	deps.Ready.Store(true)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	h = Handler(NewStore(), port, httpapi.NewServer(deps))
	return ts
}

type answer struct {
	status int
	header http.Header
	body   string
	code   string // the problem's code, if the answer is a problem
}

func send(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		var p struct{ Code string }
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%s %s: problem body %q: %v", req.Method, req.URL.Path, body, err)
		}
		a.code = p.Code
	}
	return a
}

func newRequest(t *testing.T, method, url, contentType, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// The page and the demo site answer beside the production routes, which
// get every other request; failures on either side are the service's one
// problem+json.
func TestHandlerMountsTheDemoBesideTheAPI(t *testing.T) {
	t.Parallel()
	ts := devService(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	page := send(t, c, newRequest(t, http.MethodGet, ts.URL+"/", "", ""))
	if page.status != http.StatusOK || !strings.Contains(page.body, `src="app.js"`) ||
		page.header.Get("Content-Security-Policy") != CSP || page.header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %v", page.status, page.header)
	}
	again := newRequest(t, http.MethodGet, ts.URL+"/", "", "")
	again.Header.Set("If-None-Match", page.header.Get("ETag"))
	if a := send(t, c, again); a.status != http.StatusNotModified {
		t.Errorf("GET / with its ETag: %d, want 304", a.status)
	}
	if a := send(t, c, newRequest(t, http.MethodHead, ts.URL+"/app.js", "", "")); a.status != http.StatusOK || a.body != "" ||
		!strings.HasPrefix(a.header.Get("Content-Type"), "text/javascript") {
		t.Errorf("HEAD /app.js: %d %q %v", a.status, a.body, a.header)
	}

	// The production handler answers what the demo does not route.
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/client.js": http.StatusOK, "/nope": http.StatusNotFound} {
		if a := send(t, c, newRequest(t, http.MethodGet, ts.URL+path, "", "")); a.status != want || a.header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: %d (request id %q), want %d from the production handler", path, a.status, a.header.Get("X-Request-Id"), want)
		}
	}

	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"a form post", "text/plain", `{"name":"Ann"}`, http.StatusUnsupportedMediaType, httpapi.CodeUnsupportedMediaType},
		{"an unknown member", "application/json", `{"name":"Ann","admin":true}`, http.StatusBadRequest, httpapi.CodeInvalidRequest},
		{"no name", "application/json", `{"name":" "}`, http.StatusBadRequest, httpapi.CodeInvalidRequest},
		{"a huge body", "application/json", `{"name":"` + strings.Repeat("a", 64<<10) + `"}`, http.StatusRequestEntityTooLarge, httpapi.CodePayloadTooLarge},
	} {
		if a := send(t, c, newRequest(t, http.MethodPost, ts.URL+"/dev/signin", tc.contentType, tc.body)); a.status != tc.status || a.code != tc.code {
			t.Errorf("sign-in with %s: %d %q, want %d %s", tc.name, a.status, a.body, tc.status, tc.code)
		}
	}

	if a := send(t, c, newRequest(t, http.MethodGet, ts.URL+"/dev/whoami", "", "")); a.status != http.StatusUnauthorized || a.code != httpapi.CodeUnauthenticated {
		t.Errorf("whoami before sign-in: %d %q", a.status, a.body)
	}
	if a := send(t, c, newRequest(t, http.MethodPost, ts.URL+"/dev/signin", "application/json", `{"name":"Ann Example","vip":true}`)); a.status != http.StatusOK ||
		a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("sign-in: %d %q %v", a.status, a.body, a.header)
	}
	if a := send(t, c, newRequest(t, http.MethodGet, ts.URL+"/dev/whoami", "", "")); a.status != http.StatusOK || !strings.Contains(a.body, `"email":"ann.example@example.com"`) {
		t.Errorf("whoami after sign-in: %d %q", a.status, a.body)
	}
	// The production handler asks the demo site over HTTP, as it would a real one.
	if a := send(t, c, newRequest(t, http.MethodGet, ts.URL+"/token", "", "")); a.status != http.StatusOK || !strings.Contains(a.body, `"token"`) {
		t.Errorf("token after sign-in: %d %q", a.status, a.body)
	}
	if a := send(t, c, newRequest(t, http.MethodPost, ts.URL+"/dev/signout", "", "")); a.status != http.StatusOK {
		t.Errorf("sign-out: %d %q", a.status, a.body)
	}
	if a := send(t, c, newRequest(t, http.MethodGet, ts.URL+"/token", "", "")); a.status != http.StatusUnauthorized {
		t.Errorf("token after sign-out: %d %q, want 401", a.status, a.body)
	}
}

// Another site's name for 127.0.0.1 gets nothing from dev mode, on its own
// routes or the production ones.
func TestHandlerRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	ts := devService(t)
	for _, path := range []string{"/", "/dev/whoami", "/healthz", "/token"} {
		req := newRequest(t, http.MethodGet, ts.URL+path, "", "")
		req.Host = "rebind.attacker.example:" + ts.URL[strings.LastIndex(ts.URL, ":")+1:]
		if a := send(t, http.DefaultClient, req); a.status != http.StatusMisdirectedRequest || a.code != CodeMisdirectedRequest {
			t.Errorf("GET %s for another host: %d %q, want 421 %s", path, a.status, a.body, CodeMisdirectedRequest)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "LocalHost:8080": true, "shop.localhost:8080": true,
		"[::1]:8080": true, "127.0.0.2:8080": true, "[::ffff:127.0.0.1]:8080": true,
		"localhost": false, "localhost:1": false, "192.0.2.1:8080": false,
		"localhost.attacker.example:8080": false, "[::2]:8080": false,
	} {
		if got := loopbackHost(host, "8080"); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// The production HTTP package knows nothing of dev mode: neither this
// package nor its page is built into it.
func TestAPIDoesNotImportDevMode(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/chattoken/chattoken/internal/httpapi").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/chattoken/chattoken/internal/devmode") {
			t.Errorf("internal/httpapi depends on %s", dep)
		}
	}
}

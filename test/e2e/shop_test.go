package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// The fake shop: a site with a sign-in that sets an HttpOnly session cookie,
// a "who am I" endpoint chattoken asks (harness.SessionUpstream, keyed by the
// same cookie), and a cart page that loads the widget stand-in and
// chattoken's client.js. Everything in it is a test fixture.

// shoppers are the shop's customers and the session documents its "who am
// I" endpoint answers for them.
var shoppers = map[string]struct{ Name, Doc string }{
	"ann": {"Ann Example", `{"sub":"c-ann","name":"Ann Example","cart":{"total":42.5}}`},
	"bob": {"Bob Example", `{"sub":"c-bob","name":"Bob Example","cart":{"total":7}}`},
}

// contextSchema has a request variable the page supplies (msdyn_pageurl),
// one from the session and a static one.
const contextSchema = `{
  "variables": {
    "msdyn_pageurl":   {"type": "text",   "source": "request", "max_length": 2048},
    "msdyn_cartvalue": {"type": "number", "source": "session", "field": "cart.total"},
    "msdyn_channel":   {"type": "text",   "source": "static",  "value": "web"}
  }
}`

const issuer = "https://shop.example"

// cartPath is the page the tests open: a path and a query, so that the page
// URL sent as msdyn_pageurl is not trivial.
const cartPath = "/shop/cart?item=teapot&qty=1"

var shopPage = template.Must(template.ParseFiles("testdata/shop.html"))

type shop struct {
	upstream *harness.SessionUpstream

	mu       sync.Mutex
	clientJS string            // the src of client.js on the page
	users    map[string]string // session cookie -> user
	cookies  map[string]string // user -> cookie of the latest sign-in
}

func newShop(upstream *harness.SessionUpstream, clientJS string) *shop {
	return &shop{upstream: upstream, clientJS: clientJS, users: map[string]string{}, cookies: map[string]string{}}
}

// SetClientJS sets the src of client.js on the page.
func (s *shop) SetClientJS(src string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientJS = src
}

// Session returns the session cookie of user's latest sign-in.
func (s *shop) Session(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cookies[user]
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Behind nginx the shop learns the scheme from X-Forwarded-Proto.
	secure := r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
	switch {
	case r.URL.Path == "/signin":
		user := r.URL.Query().Get("user")
		shopper, ok := shoppers[user]
		if !ok {
			http.Error(w, "no such shopper", http.StatusBadRequest)
			return
		}
		cookie := user + "-" + rand.Text()
		s.upstream.AddSession(cookie, shopper.Doc)
		s.mu.Lock()
		s.users[cookie] = user
		s.cookies[user] = cookie
		s.mu.Unlock()
		http.SetCookie(w, &http.Cookie{
			Name: "session", Value: cookie, Path: "/",
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
		})
		next := r.URL.Query().Get("next")
		if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
			next = cartPath
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	case r.URL.Path == "/signout":
		http.SetCookie(w, &http.Cookie{
			Name: "session", Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
		})
		http.Redirect(w, r, cartPath, http.StatusSeeOther)
	case strings.HasPrefix(r.URL.Path, "/static/"):
		name := path.Base(r.URL.Path)
		switch name {
		case "widget-standin.js", "widget-standin.css", "site.js", "site.css":
			w.Header().Set("Cache-Control", "no-store")
			http.ServeFile(w, r, "testdata/"+name)
		default:
			http.NotFound(w, r)
		}
	case strings.HasPrefix(r.URL.Path, "/shop/"):
		var name string
		s.mu.Lock()
		clientJS := s.clientJS
		if c, err := r.Cookie("session"); err == nil {
			if user, ok := s.users[c.Value]; ok {
				name = shoppers[user].Name
			}
		}
		s.mu.Unlock()
		context := "on"
		if r.URL.Query().Get("context") == "off" {
			context = "off"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = shopPage.Execute(w, map[string]string{"ClientJS": clientJS, "User": name, "Context": context})
	default:
		http.NotFound(w, r)
	}
}

// startChattoken runs `chattoken serve` with the context schema, asking
// upstream who is signed in, with extra settings on top.
func startChattoken(t *testing.T, upstream *harness.SessionUpstream, extra map[string]string) *harness.Service {
	t.Helper()
	_, keyPath := harness.WriteRSAKey(t)
	env := map[string]string{
		"CHATTOKEN_ISSUER":           issuer,
		"CHATTOKEN_SIGNING_KEY_FILE": keyPath,
		"CHATTOKEN_INTROSPECT_URL":   upstream.URL + "/api/me",
		"CHATTOKEN_CONTEXT_FILE":     harness.WriteFile(t, "context.json", []byte(contextSchema)),
	}
	for k, v := range extra {
		env[k] = v
	}
	return harness.Start(t, env)
}

// hostPort is the host:port of an http(s) URL.
func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// publicKey fetches the PEM public key the way Omnichannel does.
func publicKey(t *testing.T, client *http.Client, keyURL string) *rsa.PublicKey {
	t.Helper()
	resp, err := client.Get(keyURL)
	if err != nil {
		t.Fatalf("GET %s: %v", keyURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", keyURL, resp.StatusCode, body)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("GET %s: not a PEM public key: %q", keyURL, body)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := pub.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("GET %s: a %T, not an RSA key", keyURL, pub)
	}
	return key
}

// checkToken verifies token's RS256 signature with key, its registered
// claims, its sub, and returns its lwicontexts, parsed from its string form.
func checkToken(t *testing.T, token string, key *rsa.PublicKey, wantSub string) map[string]any {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(issuer), jwt.WithSubject(wantSub),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
	if err != nil {
		t.Fatalf("the token the widget got does not verify: %v\nclaims: %v", err, claims)
	}
	raw, ok := claims["lwicontexts"].(string)
	if !ok {
		t.Fatalf("lwicontexts is %T (%v), not a string", claims["lwicontexts"], claims["lwicontexts"])
	}
	var lwi map[string]any
	if err := json.Unmarshal([]byte(raw), &lwi); err != nil {
		t.Fatalf("lwicontexts %q: %v", raw, err)
	}
	return lwi
}

// logLines returns chattoken's request log lines that have every field of
// want, after waiting (at most 2s) for at least one to appear.
func logLines(svc *harness.Service, want map[string]any) []map[string]any {
	deadline := time.Now().Add(2 * time.Second)
	for {
		var found []map[string]any
		for _, line := range strings.Split(svc.Logs(), "\n") {
			var fields map[string]any
			if json.Unmarshal([]byte(line), &fields) != nil || fields["message"] != "request" {
				continue
			}
			match := true
			for k, v := range want {
				if fields[k] != v {
					match = false
				}
			}
			if match {
				found = append(found, fields)
			}
		}
		if len(found) > 0 || time.Now().After(deadline) {
			return found
		}
		time.Sleep(20 * time.Millisecond)
	}
}

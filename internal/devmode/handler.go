package devmode

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/chattoken/chattoken/internal/httpapi"
)

// The page: index.html, app.js and style.css. It has no inline script or
// style and loads nothing from another origin, so it runs under the strict
// CSP; its URLs are all relative, so it also works under a path prefix. It
// loads client.js, which the production handler serves.
//
//go:embed page
var page embed.FS

// CSP is the Content-Security-Policy of every answer of the page and the
// demo site: scripts, styles and requests only from the page's own origin,
// nothing inline, no framing. img-src allows data: for the inline empty
// favicon.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// CodeMisdirectedRequest answers a request whose Host is not this loopback
// listener.
const CodeMisdirectedRequest = "misdirected_request"

// whoAmIPath is the demo site's "who am I" endpoint: what
// CHATTOKEN_INTROSPECT_URL points at in production.
const whoAmIPath = "/dev/whoami"

// Handler serves the page and the demo site of store, and hands every other
// request to api, the production handler. Only requests whose Host is a
// loopback name with the listener's port get through (see guardHost).
func Handler(store *Store, port string, api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	// A GET pattern answers HEAD as well.
	mux.Handle("GET /{$}", pageFile("index.html"))
	mux.Handle("GET /app.js", pageFile("app.js"))
	mux.Handle("GET /style.css", pageFile("style.css"))
	mux.Handle("POST /dev/signin", signIn(store))
	mux.Handle("POST /dev/signout", signOut(store))
	mux.Handle("GET "+whoAmIPath, whoAmI(store))
	return guardHost(port, mux)
}

// pageHeader is set on every answer of the page and the demo site: the
// production handler's own security headers do not reach them.
var pageHeader = http.Header{
	"Content-Security-Policy": {CSP},
	"X-Content-Type-Options":  {"nosniff"},
	"Referrer-Policy":         {"no-referrer"},
}

func setPageHeader(w http.ResponseWriter) {
	for k, v := range pageHeader {
		w.Header()[k] = v
	}
}

// pageFile serves one file of the page, with an ETag so that a reload
// costs a 304. The file is read once, here.
func pageFile(name string) http.Handler {
	data, err := page.ReadFile("page/" + name)
	if err != nil {
		// The files are embedded at build time; a missing one is a bug.
		panic("devmode: page file " + name + ": " + err.Error())
	}
	sum := sha256.Sum256(data)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeader(w)
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag)
		// The type follows the name's extension; the time is unknown.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
}

// handler is a handler that reports failure by returning an error, which
// becomes the service's problem+json answer.
type handler func(w http.ResponseWriter, r *http.Request) error

func (f handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setPageHeader(w)
	// Every answer describes the session of this moment.
	w.Header().Set("Cache-Control", "no-store")
	if err := f(w, r); err != nil {
		httpapi.WriteProblem(w, r, err)
	}
}

func writeJSON(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	return nil
}

// sessionCookie is the demo session cookie holding value; an empty value
// removes it.
func sessionCookie(value string) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.Expires, c.MaxAge = time.Unix(0, 0), -1
	}
	return c
}

func signIn(store *Store) http.Handler {
	return handler(func(w http.ResponseWriter, r *http.Request) error {
		var form SignIn
		if err := httpapi.DecodeJSONBody(w, r, &form); err != nil {
			return err
		}
		id, doc, err := store.SignIn(form)
		if err != nil {
			return &httpapi.Error{Status: http.StatusBadRequest, Code: httpapi.CodeInvalidRequest, Detail: err.Error()}
		}
		http.SetCookie(w, sessionCookie(id))
		return writeJSON(w, map[string]any{"sub": doc["sub"], "name": doc["name"]})
	})
}

func signOut(store *Store) http.Handler {
	return handler(func(w http.ResponseWriter, r *http.Request) error {
		if c, err := r.Cookie(CookieName); err == nil {
			store.SignOut(c.Value)
		}
		http.SetCookie(w, sessionCookie(""))
		return writeJSON(w, map[string]bool{"signed_out": true})
	})
}

func whoAmI(store *Store) http.Handler {
	return handler(func(w http.ResponseWriter, r *http.Request) error {
		c, err := r.Cookie(CookieName)
		if err != nil {
			return &httpapi.Error{Status: http.StatusUnauthorized, Code: httpapi.CodeUnauthenticated, Detail: "not signed in to the demo site"}
		}
		doc, ok := store.Lookup(c.Value)
		if !ok {
			return &httpapi.Error{Status: http.StatusUnauthorized, Code: httpapi.CodeUnauthenticated, Detail: "the demo session has ended"}
		}
		return writeJSON(w, doc)
	})
}

// guardHost lets through only requests whose Host names a loopback address
// (localhost, *.localhost, 127.0.0.0/8, ::1) with the listener's port. Dev
// mode signs anyone in as anyone, so a page on the internet must not reach
// it by pointing its own DNS name at 127.0.0.1 (DNS rebinding): the browser
// would then send that name as the Host.
func guardHost(port string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host, port) {
			httpapi.WriteProblem(w, r, &httpapi.Error{Status: http.StatusMisdirectedRequest, Code: CodeMisdirectedRequest,
				Detail: fmt.Sprintf("dev mode answers only requests for localhost:%s, 127.0.0.1:%s or [::1]:%s", port, port, port)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport, port string) bool {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil || p != port {
		return false
	}
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

package httpapi

import (
	"bytes"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/chattoken/chattoken/internal/devsite"
	"github.com/chattoken/chattoken/internal/web"
)

// Handlers of `chattoken dev`: the demo page and its demo sign-in. They are
// routed only when Deps.Dev is set.

// newDevFileHandler serves one embedded file of the dev page under the
// page's Content-Security-Policy. The files are read once, here.
func newDevFileHandler(name string) http.Handler {
	data, err := fs.ReadFile(web.Dev, name)
	if err != nil {
		// The files are embedded at build time; a missing one is a bug.
		panic("httpapi: dev page file " + name + ": " + err.Error())
	}
	return newStaticHandler(data, devFiles[name], "no-cache",
		http.Header{"Content-Security-Policy": {web.DevCSP}})
}

// devFiles are the page's files and their types.
var devFiles = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"style.css":  "text/css; charset=utf-8",
}

func newDevSignInHandler(store *devsite.Store) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		body, err := readJSONBody(w, r)
		if err != nil {
			return err
		}
		var form devsite.SignIn
		if err := decodeStrict(body, &form); err != nil {
			return newError(http.StatusBadRequest, CodeInvalidRequest, nil, "the sign-in form is not valid JSON: %s", err)
		}
		id, doc, err := store.SignIn(form)
		if err != nil {
			return newError(http.StatusBadRequest, CodeInvalidRequest, nil, "%s", err)
		}
		http.SetCookie(w, &http.Cookie{
			Name: devsite.CookieName, Value: id, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
		w.Header().Set("Cache-Control", "no-store")
		return writeJSON(w, http.StatusOK, map[string]any{"sub": doc["sub"], "name": doc["name"]})
	})
}

func newDevSignOutHandler(store *devsite.Store) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if c, err := r.Cookie(devsite.CookieName); err == nil {
			store.SignOut(c.Value)
		}
		http.SetCookie(w, &http.Cookie{
			Name: devsite.CookieName, Value: "", Path: "/", Expires: time.Unix(0, 0), MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
		w.Header().Set("Cache-Control", "no-store")
		return writeJSON(w, http.StatusOK, map[string]bool{"signed_out": true})
	})
}

// newDevWhoAmIHandler is the demo site's "who am I" endpoint: what
// CHATTOKEN_INTROSPECT_URL points at in production.
func newDevWhoAmIHandler(store *devsite.Store) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		c, err := r.Cookie(devsite.CookieName)
		if err != nil {
			return newError(http.StatusUnauthorized, CodeUnauthenticated, nil, "not signed in to the demo site")
		}
		doc, ok := store.Lookup(c.Value)
		if !ok {
			return newError(http.StatusUnauthorized, CodeUnauthenticated, nil, "the demo session has ended")
		}
		return writeJSON(w, http.StatusOK, doc)
	})
}

// readJSONBody reads a bounded application/json request body.
func readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readLimitedBody(w, r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, newError(http.StatusBadRequest, CodeInvalidRequest, nil, "the body is empty")
	}
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	return body, nil
}

// CodeMisdirectedRequest answers a dev-mode request whose Host is not this
// loopback listener.
const CodeMisdirectedRequest = "misdirected_request"

// DevHostGuard lets through only requests whose Host names a loopback
// address (localhost, *.localhost, 127.0.0.0/8, ::1) with the listener's
// port. Dev mode signs anyone in as anyone, so a page on the internet must
// not reach it by pointing its own DNS name at 127.0.0.1 (DNS rebinding):
// the browser would then send that name as the Host.
func DevHostGuard(port string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !loopbackHost(r.Host, port) {
				writeProblem(w, r, newError(http.StatusMisdirectedRequest, CodeMisdirectedRequest, nil,
					"dev mode answers only requests for localhost:%s, 127.0.0.1:%s or [::1]:%s", port, port, port))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
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

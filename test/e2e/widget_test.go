package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/chattoken/chattoken/test/harness"
)

// sameOrigin is the recommended deployment: nginx with TLS in front of the
// shop (at /) and chattoken (at /chat-auth/, with deploy/nginx's snippets),
// so the page, client.js and the token share one origin.
type sameOrigin struct {
	upstream *harness.SessionUpstream
	svc      *harness.Service
	shop     *shop
	proxy    *proxy
	seen     *seenHeaders // with newSameOriginSeen only
}

func newSameOrigin(t *testing.T, extra map[string]string) *sameOrigin {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	svc := startChattoken(t, upstream, extra)
	sh := newShop(upstream, "/chat-auth/client.js")
	srv := httptest.NewServer(sh)
	t.Cleanup(srv.Close)
	return &sameOrigin{upstream: upstream, svc: svc, shop: sh, proxy: startNginx(t, svc.URL, srv.URL)}
}

// newSameOriginSeen is newSameOrigin with a pass-through between nginx and
// chattoken that keeps the headers of the token requests nginx sends, to
// check what deploy/nginx/chattoken.conf forwards.
func newSameOriginSeen(t *testing.T) *sameOrigin {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	svc := startChattoken(t, upstream, nil)
	target, err := url.Parse(svc.URL)
	if err != nil {
		t.Fatal(err)
	}
	seen := &seenHeaders{}
	pass := httputil.NewSingleHostReverseProxy(target)
	between := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			seen.add(r)
		}
		pass.ServeHTTP(w, r)
	}))
	t.Cleanup(between.Close)
	sh := newShop(upstream, "/chat-auth/client.js")
	srv := httptest.NewServer(sh)
	t.Cleanup(srv.Close)
	return &sameOrigin{upstream: upstream, svc: svc, shop: sh, proxy: startNginx(t, between.URL, srv.URL), seen: seen}
}

type seenHeaders struct {
	mu      sync.Mutex
	headers []http.Header // with "Host" set from the request
}

func (s *seenHeaders) add(r *http.Request) {
	h := r.Header.Clone()
	h.Set("Host", r.Host)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers = append(s.headers, h)
}

func (s *seenHeaders) all() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...)
}

func signInURL(base, user, next string) string {
	return base + "/signin?user=" + url.QueryEscape(user) + "&next=" + url.QueryEscape(next)
}

// Same origin behind nginx with TLS: the signed-in shopper's widget gets a
// token that verifies against the public key URL Omnichannel would use,
// names the shopper, and carries the page URL the page supplied.
func TestSameOriginBehindNginx(t *testing.T) {
	t.Parallel()
	st := newSameOriginSeen(t)
	ctx := newBrowser(t)

	openShop(t, ctx, signInURL(st.proxy.URL, "ann", cartPath))

	// The shop's session cookie: HttpOnly, SameSite=Lax, and Secure because
	// nginx told the shop (X-Forwarded-Proto) that the visitor uses https.
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{st.proxy.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "session" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || !session.Secure || session.SameSite != network.CookieSameSiteLax {
		t.Fatalf("session cookie: %+v", session)
	}

	o := startChat(t, ctx, 12*time.Second)
	if o.State != "started" || o.Token == "" {
		t.Fatalf("the widget stand-in did not start the chat: %s\nchattoken log:\n%s", o, st.svc.Logs())
	}
	if len(o.Events) == 0 || o.Events[len(o.Events)-1].Name != "lcw:chatStarted" {
		t.Errorf("the stand-in raised no lcw:chatStarted: %+v", o.Events)
	}
	pageURL := st.proxy.URL + cartPath
	if o.Href != pageURL {
		t.Errorf("page URL %q, want %q", o.Href, pageURL)
	}

	// Verify as Microsoft's servers would: the key from the public key URL.
	key := publicKey(t, st.proxy.Client, st.proxy.URL+"/chat-auth/publickey")
	lwi := checkToken(t, o.Token, key, "c-ann")
	for name, want := range map[string]any{
		"msdyn_pageurl":   pageURL, // the request variable the page supplied
		"msdyn_cartvalue": "42.5",  // from the session
		"msdyn_channel":   "web",   // static
	} {
		if lwi[name] != want {
			t.Errorf("lwicontexts[%s] = %#v, want %#v (all: %v)", name, lwi[name], want, lwi)
		}
	}
	// client.js POSTed the context: the page set the hook after it loaded.
	if lines := logLines(st.svc, map[string]any{"route": "/token", "method": "POST", "status": 200.0, "sub": "c-ann"}); len(lines) != 1 {
		t.Errorf("chattoken logged %d minted POST /token for c-ann, want 1:\n%s", len(lines), st.svc.Logs())
	}
	// What the shipped location block tells chattoken about the visitor.
	if seen := st.seen.all(); len(seen) != 1 {
		t.Errorf("%d token requests passed nginx, want 1", len(seen))
	} else {
		h := seen[0]
		for name, want := range map[string]string{
			"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1", "Host": "127.0.0.1",
			"Origin": st.proxy.URL,
		} {
			if got := h.Get(name); got != want {
				t.Errorf("chattoken got %s: %q, want %q", name, got, want)
			}
		}
		if !strings.Contains(h.Get("Cookie"), "session="+st.shop.Session("ann")) {
			t.Errorf("chattoken got no session cookie: %q", h.Get("Cookie"))
		}
	}
	screenshot(t, ctx, "shop-chat-started.png")
}

// Cross origin, same site: the page on one port of 127.0.0.1, chattoken on
// another. The session cookie (host-only, SameSite=Lax) goes to both. The
// origin listed in CHATTOKEN_CORS_ORIGINS gets a token; another origin's page
// does not, although chattoken answers it: the browser hides the answer.
func TestCrossOriginSameSite(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	sh := newShop(upstream, "")
	allowed := httptest.NewServer(sh)
	t.Cleanup(allowed.Close)
	other := httptest.NewServer(sh)
	t.Cleanup(other.Close)
	svc := startChattoken(t, upstream, map[string]string{"CHATTOKEN_CORS_ORIGINS": allowed.URL})
	sh.SetClientJS(svc.URL + "/client.js")
	ctx := newBrowser(t)

	// The allowed origin: a POST with context, after a preflight.
	openShop(t, ctx, signInURL(allowed.URL, "ann", cartPath))
	o := startChat(t, ctx, 12*time.Second)
	if o.State != "started" {
		t.Fatalf("allowed origin %s: %s\nchattoken log:\n%s", allowed.URL, o, svc.Logs())
	}
	lwi := checkToken(t, o.Token, publicKey(t, http.DefaultClient, svc.URL+"/publickey"), "c-ann")
	if want := allowed.URL + cartPath; lwi["msdyn_pageurl"] != want {
		t.Errorf("lwicontexts msdyn_pageurl = %#v, want %q", lwi["msdyn_pageurl"], want)
	}

	// Another origin, signed in as bob, with no context hook: client.js sends
	// a simple GET, which needs no preflight, so chattoken mints and answers
	// 200, and the browser withholds the answer from the page.
	openShop(t, ctx, signInURL(other.URL, "bob", cartPath+"&context=off"))
	o = startChat(t, ctx, 12*time.Second)
	if o.State != "error" || o.errorCode() != 3 {
		t.Fatalf("origin %s not in CHATTOKEN_CORS_ORIGINS read a token: %s", other.URL, o)
	}
	if o.ChattokenError == nil || o.ChattokenError.Kind != "network" {
		t.Errorf("client.js reported %+v, want a network failure (the browser's CORS block)", o.ChattokenError)
	}
	if lines := logLines(svc, map[string]any{"route": "/token", "method": "GET", "status": 200.0, "sub": "c-bob"}); len(lines) != 1 {
		t.Errorf("chattoken logged %d answered GET /token for c-bob, want 1 (the browser, not chattoken, refuses):\n%s",
			len(lines), svc.Logs())
	}

	// The same origin with context: the preflight gets no CORS headers, so
	// the browser never sends the POST.
	openShop(t, ctx, other.URL+cartPath)
	o = startChat(t, ctx, 12*time.Second)
	if o.State != "error" || o.errorCode() != 3 || o.ChattokenError == nil || o.ChattokenError.Kind != "network" {
		t.Fatalf("origin %s not in CHATTOKEN_CORS_ORIGINS, with context: %s", other.URL, o)
	}
}

// Not signed in: the widget learns at once (error 3), not after its 10 s.
func TestNotSignedIn(t *testing.T) {
	t.Parallel()
	st := newSameOrigin(t, nil)
	ctx := newBrowser(t)

	openShop(t, ctx, st.proxy.URL+cartPath)
	o := startChat(t, ctx, 5*time.Second)
	if o.State != "error" || o.errorCode() != 3 {
		t.Fatalf("not signed in: %s", o)
	}
	if o.ElapsedMs >= 2000 {
		t.Errorf("error 3 after %.0f ms, want within 2 s", o.ElapsedMs)
	}
	if e := o.ChattokenError; e == nil || e.Kind != "unauthenticated" || e.Status != 401 || e.Code != "unauthenticated" {
		t.Errorf("client.js reported %+v, want unauthenticated 401", e)
	}
}

// The session backend hangs: chattoken gives up after
// CHATTOKEN_INTROSPECT_TIMEOUT (1s here) with 503, and the widget gets error 3
// well inside its 10 s.
func TestSessionBackendHangs(t *testing.T) {
	t.Parallel()
	st := newSameOrigin(t, map[string]string{"CHATTOKEN_INTROSPECT_TIMEOUT": "1s"})
	ctx := newBrowser(t)

	openShop(t, ctx, signInURL(st.proxy.URL, "ann", cartPath))
	st.upstream.HoldSession(st.shop.Session("ann")) // released when the test ends
	o := startChat(t, ctx, 12*time.Second)
	select {
	case <-st.upstream.Arrived:
	default:
		t.Error("the token request never reached the session backend")
	}
	if o.State != "error" || o.errorCode() != 3 {
		t.Fatalf("session backend hanging: %s", o)
	}
	if o.ElapsedMs >= 3000 {
		t.Errorf("error after %.0f ms, want within 3 s (introspect timeout 1 s)", o.ElapsedMs)
	}
	if e := o.ChattokenError; e == nil || e.Status != 503 || e.Code != "session_unavailable" {
		t.Errorf("client.js reported %+v, want 503 session_unavailable", e)
	}
}

// chattoken itself down or hanging behind nginx: the widget still hears
// within its 10 s, from nginx's 502 at once, or from client.js's 8 s timeout.
func TestChattokenDownOrHanging(t *testing.T) {
	t.Parallel()
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		st := newSameOrigin(t, nil)
		ctx := newBrowser(t)
		openShop(t, ctx, signInURL(st.proxy.URL, "ann", cartPath))
		if err := st.svc.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		st.svc.Wait(t, 5*time.Second)

		o := startChat(t, ctx, 5*time.Second)
		if o.State != "error" || o.errorCode() != 3 {
			t.Fatalf("chattoken down: %s", o)
		}
		if o.ElapsedMs >= 2000 {
			t.Errorf("error after %.0f ms, want within 2 s", o.ElapsedMs)
		}
		if e := o.ChattokenError; e == nil || e.Kind != "http" || e.Status != http.StatusBadGateway {
			t.Errorf("client.js reported %+v, want nginx's 502", e)
		}
	})
	t.Run("hanging", func(t *testing.T) {
		t.Parallel()
		st := newSameOrigin(t, nil)
		ctx := newBrowser(t)
		openShop(t, ctx, signInURL(st.proxy.URL, "ann", cartPath))
		// A stopped process: its socket still accepts, nothing answers.
		if err := st.svc.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.svc.Cmd.Process.Signal(syscall.SIGCONT) })

		o := startChat(t, ctx, 12*time.Second)
		if o.State != "error" || o.errorCode() != 3 {
			t.Fatalf("chattoken hanging: %s", o)
		}
		if o.ElapsedMs < 7500 || o.ElapsedMs >= 9500 {
			t.Errorf("error after %.0f ms, want client.js's 8 s timeout", o.ElapsedMs)
		}
		if e := o.ChattokenError; e == nil || e.Kind != "timeout" {
			t.Errorf("client.js reported %+v, want a timeout", e)
		}
		if !strings.Contains(o.Message, "called back with no token") {
			t.Errorf("the stand-in says %q: the provider must call back, not let the widget time out", o.Message)
		}
	})
}

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chattoken/chattoken/internal/web"
	"github.com/chattoken/chattoken/test/harness"
)

// widgetSite is a site whose token endpoint the test controls: a page that
// includes client.js (the embedded one chattoken serves) and a /token that
// records each request and answers, like chattoken with named widgets, with
// a token naming the widget asked for, or 400 unknown_widget.
type widgetSite struct {
	*httptest.Server
	mu       sync.Mutex
	requests []widgetRequest
	answered int
	// paired, when set, makes the next "sales" request wait (at most 3 s)
	// for the next "support" one, so that both are in flight at once.
	paired chan struct{}
}

type widgetRequest struct {
	RawQuery string
	Widget   string
	Body     string
	Token    string // what the site answered, if a token
}

// knownWidgets are the widgets of the site's schema; "" is the file's
// top-level schema, asked for with no parameter.
var knownWidgets = map[string]bool{"": true, "sales": true, "support": true}

func newWidgetSite(t *testing.T) *widgetSite {
	t.Helper()
	s := &widgetSite{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// pairUp arms paired for the next two widgets' requests.
func (s *widgetSite) pairUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paired = make(chan struct{})
}

func (s *widgetSite) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/page":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>two widgets</title><script src="/client.js"></script>`)
	case "/client.js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(web.ClientJS)
	case "/token":
		body, _ := io.ReadAll(r.Body)
		req := widgetRequest{RawQuery: r.URL.RawQuery, Widget: r.URL.Query().Get("widget"), Body: string(body)}
		s.mu.Lock()
		paired := s.paired
		if req.Widget == "support" && paired != nil {
			close(paired)
			s.paired = nil
		}
		s.answered++
		if knownWidgets[req.Widget] {
			req.Token = widgetToken(req.Widget, s.answered)
		}
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		if req.Widget == "sales" && paired != nil {
			select {
			case <-paired:
			case <-time.After(3 * time.Second):
			}
		}
		if req.Token == "" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":400,"code":"unknown_widget","detail":"the schema has no such widget"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": req.Token})
	default:
		http.NotFound(w, r)
	}
}

// widgetToken is the n-th answer's stand-in JWT for widget: three parts,
// the second naming the widget and the answer.
func widgetToken(widget string, n int) string {
	payload, _ := json.Marshal(map[string]any{"widget": widget, "n": n})
	return "e30." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln"
}

// take returns the requests received since the last take.
func (s *widgetSite) take() []widgetRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

// chattoken.widget names the schema's widget in ?widget= (URL-encoded, read
// at every call, no parameter when unset), the page's hooks learn which
// widget asks, two widgets on one page each get their own token even when
// they ask at once, and an unknown widget's 400 is a failure like any other.
func TestWidgetsOnOnePage(t *testing.T) {
	t.Parallel()
	site := newWidgetSite(t)
	ctx := newBrowser(t)
	do(t, ctx, 10*time.Second, "open the page", chromedp.Navigate(site.URL+"/page"))
	waitFor(t, ctx, 5*time.Second, "client.js", `typeof window.chattoken === 'object' && typeof chattoken.getAuthToken === 'function'`)

	// asks runs call, checks that it sent the site one request, with
	// rawQuery naming widget, and that the page got the token answered.
	asks := func(what, call, widget, rawQuery string) attempt {
		t.Helper()
		a := callInPage(t, ctx, call)
		got := site.take()
		if len(got) != 1 {
			t.Fatalf("%s: %d token requests, want 1: %+v", what, len(got), got)
		}
		if got[0].RawQuery != rawQuery || got[0].Widget != widget {
			t.Errorf("%s: asked /token?%s (widget %q), want ?%s (widget %q)", what, got[0].RawQuery, got[0].Widget, rawQuery, widget)
		}
		if got[0].Token != "" && (!a.Resolved || a.token() != got[0].Token) {
			t.Errorf("%s: %s, want the token the site answered, %q", what, a, got[0].Token)
		}
		return a
	}
	asks("no chattoken.widget", `chattoken.getAuthToken()`, "", "")
	asks("chattoken.widget sales", `(chattoken.widget = 'sales', chattoken.getAuthToken())`, "sales", "widget=sales")
	asks("chattoken.widget changed to support", `(chattoken.widget = 'support', chattoken.getAuthToken({isMidAuthEnabled: true}))`,
		"support", "widget=support")
	asks("chattoken.widget emptied", `(chattoken.widget = '', chattoken.getAuthToken())`, "", "")
	// Encoded, a name holding & or = stays one parameter, never a second
	// one of the page's making.
	if a := asks("a name to encode", `(chattoken.widget = 'sales&widget=support', chattoken.getAuthToken())`,
		"sales&widget=support", "widget=sales%26widget%3Dsupport"); !a.rejected("http", http.StatusBadRequest, "unknown_widget") {
		t.Errorf("a name to encode: %s, want 400 unknown_widget", a)
	}

	// The hooks are told which widget asks, so each widget's context
	// variables can differ.
	callInPage(t, ctx, `(chattoken.widget = 'support', chattoken.context = (w) => ({ msdyn_widget: String(w) }),
		chattoken.getAuthToken())`)
	if got := site.take(); len(got) != 1 || got[0].Body != `{"context":{"msdyn_widget":"support"}}` {
		t.Errorf("context hook for widget support: the site received %+v", got)
	}

	// Two widgets on one page, asking at once: the support widget through
	// the callback form, the sales one through the Promise form, while
	// chattoken.widget names yet another. The site holds the sales answer
	// until the support request has arrived, and each widget gets its own
	// token, twice.
	for round := 1; round <= 2; round++ {
		site.pairUp()
		var both struct {
			Sales   string `json:"sales"`
			Support string `json:"support"`
		}
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		raw, err := chromedp.Run(tctx, chromedp.Evaluate[string](`(async () => {
			delete chattoken.context;
			chattoken.widget = 'nosuch';
			const sales = chattoken.forWidget('sales'), support = chattoken.forWidget('support');
			const got = await Promise.all([sales.getAuthToken(), new Promise((r) => support.authTokenProvider(r))]);
			return JSON.stringify({ sales: got[0], support: got[1] });
		})()`, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil {
			t.Fatalf("two widgets, round %d: %v\npage: %s", round, err, pageState(ctx))
		}
		if err := json.Unmarshal([]byte(raw), &both); err != nil {
			t.Fatal(err)
		}
		got := site.take()
		tokens := map[string]string{}
		for _, r := range got {
			tokens[r.Widget] = r.Token
		}
		if len(got) != 2 || tokens["sales"] == "" || tokens["support"] == "" {
			t.Fatalf("two widgets, round %d: the site received %+v, want one request for each", round, got)
		}
		if both.Sales != tokens["sales"] || both.Support != tokens["support"] {
			t.Errorf("two widgets, round %d: sales got %q, support %q; the site answered sales %q, support %q",
				round, both.Sales, both.Support, tokens["sales"], tokens["support"])
		}
	}

	// An unknown widget: rejected like any other failure, sign-in optional
	// or not, and the callback form gets no token.
	const unknown = `chattoken.widget = 'nosuch'`
	for _, call := range []string{
		`(` + unknown + `, chattoken.getAuthToken())`,
		`(` + unknown + `, chattoken.optional = true, chattoken.getAuthToken({isMidAuthEnabled: true}))`,
		`chattoken.forWidget('nosuch').getAuthToken()`,
	} {
		a := callInPage(t, ctx, call)
		if !a.rejected("http", http.StatusBadRequest, "unknown_widget") || !strings.Contains(a.Message, "/token?widget=nosuch answered 400 unknown_widget") {
			t.Errorf("%s: %s, want a 400 unknown_widget failure and one chattoken:error", call, a)
		}
		site.take()
	}
	if a := callInPage(t, ctx, viaCallback); !a.Resolved || a.Args != 0 || len(a.Events) != 1 {
		t.Errorf("unknown widget, authTokenProvider: %s, want callback() and one chattoken:error", a)
	}
	site.take()

	// A widget that is not a name is the page's mistake, found before any
	// request.
	if a := callInPage(t, ctx, `(chattoken.widget = ['sales'], chattoken.getAuthToken())`); !a.rejected("hook", 0, "") {
		t.Errorf("chattoken.widget an array: %s, want a hook failure", a)
	}
	var thrown string
	evalJSON(t, ctx, `(() => { try { chattoken.forWidget(''); return 'nothing'; } catch (e) { return e.name; } })()`, &thrown)
	if thrown != "TypeError" {
		t.Errorf("chattoken.forWidget(''): %s, want a TypeError", thrown)
	}
	if got := site.take(); len(got) != 0 {
		t.Errorf("a widget that is not a name sent %+v", got)
	}
}

// widgetsSchema names two widgets, each with a variable that says whose
// token it is.
const widgetsSchema = `{"widgets": {
  "sales": {"variables": {
    "msdyn_widget":    {"type": "text",   "source": "static",  "value": "sales"},
    "msdyn_cartvalue": {"type": "number", "source": "session", "field": "cart.total"}}},
  "support": {"variables": {
    "msdyn_widget":    {"type": "text",   "source": "static",  "value": "support"}}}
}}`

// The same on the real binary with a schema of named widgets: the shopper's
// two widgets, asking at once in one session, each get a token carrying
// their own widget's context, and a widget the schema lacks is chattoken's
// 400 unknown_widget, reported to the page.
func TestWidgetsOnTheRealBinary(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	sh := newShop(upstream, "")
	page := httptest.NewServer(sh)
	t.Cleanup(page.Close)
	svc := startChattoken(t, upstream, map[string]string{
		"CHATTOKEN_CORS_ORIGINS": page.URL,
		"CHATTOKEN_CONTEXT_FILE": harness.WriteFile(t, "widgets.json", []byte(widgetsSchema)),
	})
	sh.SetClientJS(svc.URL + "/client.js")
	ctx := newBrowser(t)
	openShop(t, ctx, signInURL(page.URL, "ann", cartPath+"&context=off"))

	key := publicKey(t, http.DefaultClient, svc.URL+"/publickey")
	tokens := callInPage(t, ctx, `Promise.all([chattoken.forWidget('sales').getAuthToken(),
		chattoken.forWidget('support').getAuthToken()])`)
	pair, ok := tokens.Value.([]any)
	if !tokens.Resolved || !ok || len(pair) != 2 {
		t.Fatalf("two widgets: %s\nchattoken log:\n%s", tokens, svc.Logs())
	}
	for i, want := range []map[string]any{
		{"msdyn_widget": "sales", "msdyn_cartvalue": "42.5"},
		{"msdyn_widget": "support"},
	} {
		raw, _ := pair[i].(string)
		lwi := checkToken(t, raw, key, "c-ann")
		if len(lwi) != len(want) {
			t.Errorf("widget %v: lwicontexts %v, want %v", want["msdyn_widget"], lwi, want)
		}
		for k, v := range want {
			if lwi[k] != v {
				t.Errorf("widget %v: lwicontexts[%s] = %#v, want %#v (all: %v)", want["msdyn_widget"], k, lwi[k], v, lwi)
			}
		}
	}

	a := callInPage(t, ctx, `(chattoken.widget = 'nosuch', chattoken.getAuthToken({isMidAuthEnabled: true}))`)
	if !a.rejected("http", http.StatusBadRequest, "unknown_widget") {
		t.Errorf("unknown widget: %s, want chattoken's 400 unknown_widget and one chattoken:error\nchattoken log:\n%s", a, svc.Logs())
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chattoken/chattoken/test/harness"
)

// attempt is what one call of client.js's functions gave the page: the
// value it resolved (or called back with), or the ChattokenError it
// rejected with, and the chattoken:error events dispatched meanwhile.
type attempt struct {
	Resolved bool   `json:"resolved"`
	Value    any    `json:"value"`
	Args     int    `json:"args"` // callback form: how many arguments the callback got
	Kind     string `json:"kind"`
	Status   int    `json:"status"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Events   []struct {
		Kind   string `json:"kind"`
		Status int    `json:"status"`
		Code   string `json:"code"`
	} `json:"events"`
}

func (a attempt) String() string {
	b, _ := json.Marshal(a)
	return string(b)
}

// token is the JWT the call resolved with, or "" for anything else.
func (a attempt) token() string {
	s, _ := a.Value.(string)
	return s
}

// rejected reports whether the call rejected with kind, status and code and
// dispatched exactly one chattoken:error saying the same.
func (a attempt) rejected(kind string, status int, code string) bool {
	return !a.Resolved && a.Kind == kind && a.Status == status && a.Code == code &&
		len(a.Events) == 1 && a.Events[0].Kind == kind && a.Events[0].Status == status && a.Events[0].Code == code
}

// resolvedNull reports whether the call resolved null, silently.
func (a attempt) resolvedNull() bool {
	return a.Resolved && a.Value == nil && len(a.Events) == 0
}

// attemptJS runs the call %s (a JavaScript expression giving a Promise) in
// the page and describes its outcome as an attempt.
const attemptJS = `(async () => {
  const events = [];
  const listen = (e) => events.push(e.detail);
  addEventListener('chattoken:error', listen);
  try {
    const value = await (%s);
    return JSON.stringify({ resolved: true, value: value, events: events });
  } catch (err) {
    return JSON.stringify({ resolved: false, kind: err.kind, status: err.status, code: err.code,
      message: err.message, events: events });
  } finally {
    removeEventListener('chattoken:error', listen);
  }
})()`

// viaCallback is a call of authTokenProvider as the script-tag widget makes
// it, as a Promise of what the callback got.
const viaCallback = `new Promise((resolve) => chattoken.authTokenProvider(function () {
  window.lastCallbackArgs = arguments.length;
  resolve(arguments[0]);
}))`

// callInPage runs call in the page (see attemptJS).
func callInPage(t *testing.T, ctx context.Context, call string) attempt {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 12*time.Second)
	defer cancel()
	raw, err := chromedp.Run(tctx, chromedp.Evaluate[string](fmt.Sprintf(attemptJS, call), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v\npage: %s", call, err, pageState(ctx))
	}
	var a attempt
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatalf("%s: %v in %s", call, err, raw)
	}
	if call == viaCallback {
		evalJSON(t, ctx, `window.lastCallbackArgs`, &a.Args)
	}
	return a
}

// Sign-in optional, on the real binary (the page on one origin, chattoken
// on another, allowed by CORS): a signed-out visitor gets null, silently,
// when the widget says isMidAuthEnabled or the page sets chattoken.optional;
// without either, a 401 still rejects; any other failure rejects whatever
// the page or the widget says; a signed-in visitor gets a token.
func TestOptionalSignIn(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	sh := newShop(upstream, "")
	page := httptest.NewServer(sh)
	t.Cleanup(page.Close)
	svc := startChattoken(t, upstream, map[string]string{"CHATTOKEN_CORS_ORIGINS": page.URL})
	sh.SetClientJS(svc.URL + "/client.js")
	ctx := newBrowser(t)
	console := recordConsole(ctx)

	// Signed out. The page's context hook is on, so each request is a POST
	// after a preflight, as on a real page.
	openShop(t, ctx, page.URL+cartPath)
	if a := callInPage(t, ctx, `chattoken.getAuthToken({isMidAuthEnabled: true})`); !a.resolvedNull() {
		t.Errorf("signed out, isMidAuthEnabled: %s, want null and no chattoken:error", a)
	}
	if a := callInPage(t, ctx, `(chattoken.optional = true, chattoken.getAuthToken())`); !a.resolvedNull() {
		t.Errorf("signed out, chattoken.optional: %s, want null and no chattoken:error", a)
	}
	if a := callInPage(t, ctx, viaCallback); !a.resolvedNull() || a.Args != 1 {
		t.Errorf("signed out, chattoken.optional, authTokenProvider: %s, want callback(null) and no chattoken:error", a)
	}

	// The same visitor where sign-in is required: rejected as before, and
	// the callback form warns. The warning is the only line client.js ever
	// wrote to the console: the silent calls above wrote none.
	if a := callInPage(t, ctx, `(delete chattoken.optional, chattoken.getAuthToken())`); !a.rejected("unauthenticated", 401, "unauthenticated") {
		t.Errorf("signed out, sign-in required: %s, want unauthenticated 401 and one chattoken:error", a)
	}
	if a := callInPage(t, ctx, `chattoken.getAuthToken({isMidAuthEnabled: false})`); !a.rejected("unauthenticated", 401, "unauthenticated") {
		t.Errorf("signed out, isMidAuthEnabled false: %s, want unauthenticated 401 and one chattoken:error", a)
	}
	if a := callInPage(t, ctx, viaCallback); !a.Resolved || a.Args != 0 || len(a.Events) != 1 {
		t.Errorf("signed out, sign-in required, authTokenProvider: %s, want callback() and one chattoken:error", a)
	}
	if messages := console.waitForLine(t, "chattoken: not signed in"); len(messages) != 1 {
		t.Errorf("the page's console: %q, want only the warning of the last authTokenProvider call", messages)
	}

	// The session backend fails (503): not a signed-out visitor, so even
	// with sign-in optional the widget hears of it.
	do(t, ctx, 5*time.Second, "set a session the backend fails on",
		chromedp.Evaluate[chromedp.Void](`document.cookie = 'session=upstream-500; path=/'`))
	if a := callInPage(t, ctx, `chattoken.getAuthToken({isMidAuthEnabled: true})`); !a.rejected("http", http.StatusServiceUnavailable, "session_unavailable") {
		t.Errorf("backend failing, isMidAuthEnabled: %s, want 503 session_unavailable and one chattoken:error", a)
	}
	if a := callInPage(t, ctx, `(chattoken.optional = true, chattoken.getAuthToken())`); !a.rejected("http", http.StatusServiceUnavailable, "session_unavailable") {
		t.Errorf("backend failing, chattoken.optional: %s, want 503 session_unavailable and one chattoken:error", a)
	}

	// Signed in: a token, whatever the widget says.
	openShop(t, ctx, signInURL(page.URL, "ann", cartPath))
	key := publicKey(t, http.DefaultClient, svc.URL+"/publickey")
	for _, call := range []string{`chattoken.getAuthToken({isMidAuthEnabled: true})`, `chattoken.getAuthToken()`} {
		a := callInPage(t, ctx, call)
		if !a.Resolved || a.token() == "" {
			t.Fatalf("signed in, %s: %s\nchattoken log:\n%s", call, a, svc.Logs())
		}
		checkToken(t, a.token(), key, "c-ann")
	}
	if a := callInPage(t, ctx, `(chattoken.optional = true, chattoken.getAuthToken())`); !a.Resolved || a.token() == "" {
		t.Errorf("signed in, chattoken.optional: %s, want a token", a)
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chattoken/chattoken/test/harness"
)

// standinScenarios runs the stand-in through its contract in the page and
// returns, for each scenario, the event it raised and the errorCode.
const standinScenarios = `(async () => {
  const sdk = Microsoft.Omnichannel.LiveChatWidget.SDK;
  const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const jwt = (payload) => b64({ alg: 'none' }) + '.' + b64(payload) + '.c2ln';
  const now = Math.floor(Date.now() / 1000);
  const start = (provider) => new Promise((resolve) => {
    if (provider) sdk.setAuthTokenProvider(provider); else sdk.removeAuthTokenProvider();
    const done = (e) => {
      removeEventListener('lcw:error', done);
      removeEventListener('lcw:chatStarted', done);
      resolve({ event: e.type, errorCode: e.detail.errorCode || 0, elapsedMs: lcwStandin.elapsedMs });
    };
    addEventListener('lcw:error', done);
    addEventListener('lcw:chatStarted', done);
    sdk.startChat();
  });
  const results = {};
  // The name entered in Omnichannel's settings is not a provider.
  const bad = { setString: 'chattoken.authTokenProvider', setNull: null, setObject: {} };
  for (const key of Object.keys(bad)) {
    try { sdk.setAuthTokenProvider(bad[key]); results[key] = 'accepted'; }
    catch (err) { results[key] = err.name; }
  }
  const fn = (cb) => cb();
  sdk.setAuthTokenProvider(fn);
  results.get = sdk.getAuthTokenProvider() === fn;
  sdk.removeAuthTokenProvider();
  results.removed = sdk.getAuthTokenProvider() === undefined;
  results.none = await start(undefined);
  results.throws = await start(() => { throw new Error('boom'); });
  results.empty = await start((cb) => cb(''));
  results.nothing = await start((cb) => cb());
  results.twoParts = await start((cb) => cb('a.b'));
  results.notJSON = await start((cb) => cb('a.bm90IGpzb24.c'));
  results.noExp = await start((cb) => cb(jwt({ sub: 'x' })));
  results.stringExp = await start((cb) => cb(jwt({ sub: 'x', exp: String(now + 600) })));
  results.expired = await start((cb) => cb(jwt({ sub: 'x', exp: now - 1 })));
  results.msExp = await start((cb) => cb(jwt({ sub: 'x', exp: (now + 600) * 1000 })));
  results.ok = await start((cb) => setTimeout(() => cb(jwt({ sub: 'x', exp: now + 600 })), 10));
  results.silent = await start(() => {});
  return JSON.stringify(results);
})()`

// The widget stand-in is a fixture, but the other tests trust it: hold it to
// the contract it claims (setAuthTokenProvider throws on a non-function,
// errors 2, 3, 4 and 8, the 10 s budget).
func TestWidgetStandin(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	// No chattoken: client.js is missing, so the page's own registration
	// hands setAuthTokenProvider undefined.
	srv := httptest.NewServer(newShop(upstream, "/static/missing-client.js"))
	t.Cleanup(srv.Close)
	ctx := newBrowser(t)

	do(t, ctx, 10*time.Second, "open the shop", chromedp.Navigate(srv.URL+cartPath))
	waitFor(t, ctx, 5*time.Second, "the page to try to register a provider", `document.body.dataset.provider === 'error'`)
	var providerError string
	evalJSON(t, ctx, `document.body.dataset.providerError`, &providerError)
	if !strings.Contains(providerError, "must be a function") {
		t.Errorf("setAuthTokenProvider(undefined) threw %q", providerError)
	}

	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(tctx, chromedp.Evaluate[string](standinScenarios, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("scenarios: %v\npage: %s", err, pageState(ctx))
	}
	type result struct {
		Event     string  `json:"event"`
		ErrorCode int     `json:"errorCode"`
		ElapsedMs float64 `json:"elapsedMs"`
	}
	var got struct {
		SetString any    `json:"setString"`
		SetNull   any    `json:"setNull"`
		SetObject any    `json:"setObject"`
		Get       bool   `json:"get"`
		Removed   bool   `json:"removed"`
		None      result `json:"none"`
		Throws    result `json:"throws"`
		Empty     result `json:"empty"`
		Nothing   result `json:"nothing"`
		TwoParts  result `json:"twoParts"`
		NotJSON   result `json:"notJSON"`
		NoExp     result `json:"noExp"`
		StringExp result `json:"stringExp"`
		Expired   result `json:"expired"`
		MsExp     result `json:"msExp"`
		OK        result `json:"ok"`
		Silent    result `json:"silent"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	t.Logf("stand-in: %s", raw)
	for name, v := range map[string]any{"string": got.SetString, "null": got.SetNull, "object": got.SetObject} {
		if v != "TypeError" {
			t.Errorf("setAuthTokenProvider(%s): %v, want a TypeError", name, v)
		}
	}
	if !got.Get || !got.Removed {
		t.Errorf("getAuthTokenProvider / removeAuthTokenProvider: get %v, removed %v", got.Get, got.Removed)
	}
	for name, c := range map[string]struct {
		got  result
		want int // 0: lcw:chatStarted
	}{
		"no provider": {got.None, 8}, "provider throws": {got.Throws, 2},
		"empty token": {got.Empty, 3}, "no token": {got.Nothing, 3},
		"two parts": {got.TwoParts, 4}, "payload not JSON": {got.NotJSON, 4},
		"no exp": {got.NoExp, 4}, "string exp": {got.StringExp, 4}, "expired": {got.Expired, 4},
		"exp in ms": {got.MsExp, 0}, "good token": {got.OK, 0}, "never calls back": {got.Silent, 3},
	} {
		wantEvent := "lcw:error"
		if c.want == 0 {
			wantEvent = "lcw:chatStarted"
		}
		if c.got.Event != wantEvent || c.got.ErrorCode != c.want {
			t.Errorf("%s: %s errorCode %d, want %s errorCode %d", name, c.got.Event, c.got.ErrorCode, wantEvent, c.want)
		}
	}
	if got.Silent.ElapsedMs < 9900 || got.Silent.ElapsedMs > 11000 {
		t.Errorf("a provider that never calls back is given up after %.0f ms, want 10 s", got.Silent.ElapsedMs)
	}
}

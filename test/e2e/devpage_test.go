package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chattoken/chattoken/test/harness"
)

// The dev-mode page in a real browser, under its Content-Security-Policy:
// before sign-in the token request fails with the reason client.js reports;
// after signing in through the form, the token is fetched by client.js and
// verified by the page.
func TestDevModePage(t *testing.T) {
	t.Parallel()
	svc := harness.Start(t, map[string]string{}, "dev")
	ctx := newBrowser(t)

	// Every console message and uncaught exception, to catch CSP violations.
	console := recordConsole(ctx)

	do(t, ctx, 10*time.Second, "open the dev page", chromedp.Navigate(svc.URL+"/"))
	waitFor(t, ctx, 5*time.Second, "the page to check the session",
		`document.body.dataset.tokenState === 'idle' && document.body.dataset.session === 'signed-out'`)

	// Not signed in: error state, with the reason from chattoken:error.
	do(t, ctx, 5*time.Second, "click get-token", chromedp.Click(chromedp.ID("get-token")))
	waitFor(t, ctx, 5*time.Second, "the token request to fail", `document.body.dataset.tokenState === 'error'`)
	var failure struct{ Status, Code string }
	evalJSON(t, ctx, `({status: document.getElementById('token-error').dataset.status,
		code: document.getElementById('token-error').dataset.code})`, &failure)
	if failure.Status != "401" || failure.Code != "unauthenticated" {
		t.Errorf("token before sign-in: the page shows %+v, want 401 unauthenticated", failure)
	}

	// Sign in through the form, then get a token the way the widget does.
	do(t, ctx, 5*time.Second, "sign in",
		chromedp.SetValue(chromedp.ID("signin-name"), "Test Shopper"),
		chromedp.Click(chromedp.ID("signin-submit")))
	waitFor(t, ctx, 5*time.Second, "the sign-in", `document.body.dataset.session === 'signed-in'`)
	do(t, ctx, 5*time.Second, "click get-token", chromedp.Click(chromedp.ID("get-token")))
	waitFor(t, ctx, 10*time.Second, "a verified token", `document.body.dataset.tokenState === 'verified'`)

	var page struct {
		Checks  []string `json:"checks"`
		Context string   `json:"context"`
		Payload string   `json:"payload"`
	}
	evalJSON(t, ctx, `({
		checks: ['token-exp', 'token-verify', 'token-kid'].map((id) => document.getElementById(id).dataset.check),
		context: document.getElementById('token-context').textContent,
		payload: document.getElementById('token-payload').textContent})`, &page)
	if strings.Join(page.Checks, ",") != "ok,ok,ok" {
		t.Errorf("checks on the page: %v", page.Checks)
	}
	if !strings.Contains(page.Context, `"msdyn_pageurl": "`+svc.URL+`/"`) {
		t.Errorf("lwicontexts on the page lacks the page URL %s/:\n%s", svc.URL, page.Context)
	}
	if !strings.Contains(page.Payload, `"name"`) && !strings.Contains(page.Payload, `"sub"`) {
		t.Errorf("payload on the page: %s", page.Payload)
	}
	screenshot(t, ctx, "dev-page-verified.png")

	messages := console.lines(false)
	for _, m := range messages {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("browser console: %s", m)
		}
	}
	t.Logf("browser console: %d messages", len(messages))
}

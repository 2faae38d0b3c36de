package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chattoken/chattoken/test/harness"
)

// newBrowser starts a headless Chromium with a fresh profile for the test
// and returns the context of its first tab. The browser ends with the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := harness.RequireTool(t, "chromium", "chromium", "chromium-browser", "/usr/bin/chromium")

	output := &harness.LockedBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		// Loopback only: every host but 127.0.0.1 and localhost fails to
		// resolve, so the browser reaches nothing but the test's servers.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		// nginx's certificate is a throwaway one made by the test.
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(output),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", quiet(output.String()))
		}
	})

	// The first action starts the browser and ties it to ctx, which has no
	// deadline; bound the start from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			harness.MissingTool(t, "chromium", fmt.Sprintf("cannot start %s: %v\n%s", exe, err, output.String()))
		}
	case <-time.After(30 * time.Second):
		cancelTab()
		cancelAlloc()
		t.Fatalf("chromium did not start within 30s:\n%s", output.String())
	}
	return ctx
}

// quiet drops Chromium's complaints about the missing D-Bus of a container.
func quiet(output string) string {
	var kept []string
	for _, line := range strings.Split(output, "\n") {
		if !strings.Contains(line, "dbus") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// do runs actions in the tab, all within timeout.
func do(t *testing.T, ctx context.Context, timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, pageState(ctx))
	}
}

// evalJSON evaluates expr in the page and decodes its JSON-able value into v.
func evalJSON(t *testing.T, ctx context.Context, expr string, v any) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := chromedp.Run(tctx, chromedp.Evaluate[string](`JSON.stringify(`+expr+`)`))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		t.Fatalf("evaluating %s: %v in %s", expr, err, raw)
	}
}

// waitFor waits until the JavaScript expression cond is truthy in the page.
func waitFor(t *testing.T, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		t.Fatalf("waiting %s for %s (%s): %v\npage: %s", timeout, what, cond, err, pageState(ctx))
	}
}

// pageState describes the page for a failure message.
func pageState(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string](`JSON.stringify({href: location.href,
		body: document.body && Object.assign({}, document.body.dataset), widget: window.lcwStandin,
		chattokenError: window.lastChattokenError})`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// screenshot saves a full-page PNG of the tab as name under the artifacts
// directory ($CHATTOKEN_ARTIFACTS, else test/e2e/artifacts) and logs where.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	dir := os.Getenv("CHATTOKEN_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// outcome is what the widget stand-in recorded for one startChat.
type outcome struct {
	State          string  `json:"state"`
	Token          string  `json:"token"`
	ErrorCode      *int    `json:"errorCode"`
	ElapsedMs      float64 `json:"elapsedMs"`
	Message        string  `json:"message"`
	Href           string  `json:"href"`
	ChattokenError *struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Status  int    `json:"status"`
		Code    string `json:"code"`
	} `json:"chattokenError"`
	Events []struct {
		Name   string         `json:"name"`
		Detail map[string]any `json:"detail"`
	} `json:"events"`
}

func (o outcome) String() string {
	b, _ := json.Marshal(o)
	return string(b)
}

// openShop opens a shop page and waits until the page has registered the
// provider on lcw:ready and (unless the page turns it off) set its context
// hook.
func openShop(t *testing.T, ctx context.Context, pageURL string) {
	t.Helper()
	do(t, ctx, 10*time.Second, "open "+pageURL, chromedp.Navigate(pageURL))
	waitFor(t, ctx, 5*time.Second, "the page to register chattoken.authTokenProvider",
		`document.body.dataset.provider === 'registered' && document.body.dataset.contextHook !== undefined`)
}

// startChat clicks the page's chat button and waits, at most within, for the
// stand-in to start the chat or report an error.
func startChat(t *testing.T, ctx context.Context, within time.Duration) outcome {
	t.Helper()
	do(t, ctx, 5*time.Second, "click start-chat", chromedp.Click(chromedp.ID("start-chat")))
	waitFor(t, ctx, within, "the widget stand-in to start the chat or report an error",
		`['started', 'error'].includes(document.body.dataset.widgetState)`)
	var o outcome
	evalJSON(t, ctx, `Object.assign({}, window.lcwStandin,
		{href: location.href, chattokenError: window.lastChattokenError || null})`, &o)
	return o
}

// errorCode is o's lcw:error code, or 0 when there is none.
func (o outcome) errorCode() int {
	if o.ErrorCode == nil {
		return 0
	}
	return *o.ErrorCode
}

// pageConsole records the browser console: what the page itself writes
// (calls of the console API and uncaught exceptions) and the browser's own
// log, such as its line for every answer that is not a 2xx or a Content
// Security Policy violation.
type pageConsole struct {
	mu      sync.Mutex
	entries []consoleEntry
}

type consoleEntry struct {
	fromPage bool
	text     string // "type: message"
}

func recordConsole(ctx context.Context) *pageConsole {
	c := &pageConsole{}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.entries = append(c.entries, consoleEntry{fromPage: m.Source == "", text: string(m.Type) + ": " + m.String()})
			c.mu.Unlock()
		}
	}()
	return c
}

// lines returns what the console holds so far: only what the page wrote,
// or everything.
func (c *pageConsole) lines(pageOnly bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.entries {
		if e.fromPage || !pageOnly {
			out = append(out, e.text)
		}
	}
	return out
}

// waitForLine returns what the page wrote once one line holds want, or
// fails after 2 s.
func (c *pageConsole) waitForLine(t *testing.T, want string) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		messages := c.lines(true)
		for _, m := range messages {
			if strings.Contains(m, want) {
				return messages
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console never showed %q; it has %q", want, messages)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package devmode

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

func readPage(t *testing.T, name string) string {
	t.Helper()
	data, err := page.ReadFile("page/" + name)
	if err != nil {
		t.Fatalf("embedded page: %v", err)
	}
	if len(data) == 0 {
		t.Fatalf("embedded page: %s is empty", name)
	}
	return string(data)
}

func TestPageIsEmbedded(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		readPage(t, name)
	}
}

var (
	tagRE       = regexp.MustCompile(`(?is)<[a-z][^>]*>`)
	scriptRE    = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	eventAttrRE = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleAttrRE = regexp.MustCompile(`(?i)\sstyle\s*=`)
	urlAttrRE   = regexp.MustCompile(`(?i)\s(?:src|href|action)\s*=\s*"([^"]*)"`)
)

// The page must run under CSP: no inline script, style or event handler.
func TestIndexHTMLFitsTheCSP(t *testing.T) {
	html := readPage(t, "index.html")

	// client.js (the script sites include) first: app.js uses its provider.
	clientTag, appTag := `<script src="client.js" defer></script>`, `<script src="app.js" defer></script>`
	if !strings.Contains(html, appTag) {
		t.Error(`index.html does not load app.js with <script src="app.js" defer>`)
	}
	if !strings.Contains(html, clientTag) {
		t.Error(`index.html does not load client.js with <script src="client.js" defer>`)
	} else if strings.Index(html, clientTag) > strings.Index(html, appTag) {
		t.Error("index.html loads client.js after app.js; app.js needs chattoken.authTokenProvider")
	}
	if !strings.Contains(html, `<link rel="stylesheet" href="style.css">`) {
		t.Error(`index.html does not load style.css`)
	}

	scripts := scriptRE.FindAllStringSubmatch(html, -1)
	if len(scripts) == 0 {
		t.Error("index.html has no <script> element")
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], "src=") {
			t.Errorf("a <script> has no src: %q", m[0])
		}
		if strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script body: %q", m[0])
		}
	}
	if regexp.MustCompile(`(?i)<style\b`).MatchString(html) {
		t.Error("index.html has a <style> element")
	}
	for _, tag := range tagRE.FindAllString(html, -1) {
		if eventAttrRE.MatchString(tag) {
			t.Errorf("inline event handler attribute: %s", tag)
		}
		if styleAttrRE.MatchString(tag) {
			t.Errorf("inline style attribute: %s", tag)
		}
		// Relative URLs only, so the page works under a path prefix and
		// loads nothing from another origin.
		for _, m := range urlAttrRE.FindAllStringSubmatch(tag, -1) {
			u := m[1]
			if u == "data:," {
				continue // the empty favicon, allowed by img-src data:
			}
			if strings.HasPrefix(u, "/") || strings.Contains(u, ":") {
				t.Errorf("URL is not relative: %s", tag)
			}
		}
	}
}

// A browser test drives the page by these ids; app.js must use them all.
func TestPageIDs(t *testing.T) {
	html := readPage(t, "index.html")
	js := readPage(t, "app.js")
	for _, id := range []string{
		"signin-form", "signin-name", "signin-cart", "signin-vip", "signin-error",
		"signout", "whoami", "whoami-doc",
		"get-token", "token-status", "token-error", "token-result",
		"token-raw", "token-header", "token-payload", "token-context",
		"token-exp", "token-verify", "token-kid",
		"wire-function", "wire-publickey", "wire-client", "wire-token",
	} {
		if !strings.Contains(html, `id="`+id+`"`) {
			t.Errorf("index.html has no element with id %q", id)
		}
		if id != "wire-function" && !strings.Contains(js, `'`+id+`'`) {
			t.Errorf("app.js never uses id %q", id)
		}
	}
	if !strings.Contains(js, "dataset.tokenState") {
		t.Error("app.js does not set document.body.dataset.tokenState")
	}
}

// app.js gets its token from client.js, the script sites include, exactly as
// the widget does: no copy of the provider of its own, relative URLs only.
func TestAppJSContract(t *testing.T) {
	js := readPage(t, "app.js")
	for _, want := range []string{
		"window.chattoken.authTokenProvider",
		"provider(resolve)",
		"window.chattoken.context = () => ({ msdyn_pageurl: location.href })",
		"addEventListener('chattoken:error'",
		"fetch('dev/whoami'",
		"fetch('dev/signin'",
		"fetch('dev/signout'",
		"fetch('publickey'",
		"fetch('.well-known/jwks.json'",
		"importKey('spki'",
		"'RSASSA-PKCS1-v1_5'",
	} {
		if !strings.Contains(js, want) {
			t.Errorf("app.js does not contain %q", want)
		}
	}
	// The token request is client.js's job: a second copy would drift.
	for _, dup := range []string{"function authTokenProvider", "fetch('token'", "AbortController", "chattoken:failure"} {
		if strings.Contains(js, dup) {
			t.Errorf("app.js carries its own token provider (%q); it must use client.js", dup)
		}
	}
	if m := regexp.MustCompile(`fetch\(\s*['"\x60](/|https?:)`).FindString(js); m != "" {
		t.Errorf("app.js fetches a non-relative URL: %s", m)
	}
	if strings.Contains(js, "innerHTML") || strings.Contains(js, "eval(") {
		t.Error("app.js uses innerHTML or eval")
	}
}

func TestCSP(t *testing.T) {
	for _, want := range []string{
		"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"base-uri 'none'", "frame-ancestors 'none'",
	} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %q: %s", want, CSP)
		}
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP allows %s: %s", bad, CSP)
		}
	}
}

func TestAppJSSyntax(t *testing.T) {
	node := harness.RequireTool(t, "node")
	if out, err := exec.Command(node, "--check", "page/app.js").CombinedOutput(); err != nil {
		t.Errorf("node --check page/app.js: %v\n%s", err, out)
	}
}

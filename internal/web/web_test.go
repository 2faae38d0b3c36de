package web

import (
	"io/fs"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

func readDev(t *testing.T, name string) string {
	t.Helper()
	data, err := fs.ReadFile(Dev, name)
	if err != nil {
		t.Fatalf("embedded dev FS: %v", err)
	}
	if len(data) == 0 {
		t.Fatalf("embedded dev FS: %s is empty", name)
	}
	return string(data)
}

func TestDevFSHasThePage(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		readDev(t, name)
	}
}

var (
	tagRE       = regexp.MustCompile(`(?is)<[a-z][^>]*>`)
	scriptRE    = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	eventAttrRE = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleAttrRE = regexp.MustCompile(`(?i)\sstyle\s*=`)
	urlAttrRE   = regexp.MustCompile(`(?i)\s(?:src|href|action)\s*=\s*"([^"]*)"`)
)

// The page must run under DevCSP: no inline script, style or event handler.
func TestIndexHTMLFitsTheCSP(t *testing.T) {
	html := readDev(t, "index.html")

	if !strings.Contains(html, `<script src="app.js" defer></script>`) {
		t.Error(`index.html does not load app.js with <script src="app.js" defer>`)
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
	html := readDev(t, "index.html")
	js := readDev(t, "app.js")
	for _, id := range []string{
		"signin-form", "signin-name", "signin-cart", "signin-vip", "signin-error",
		"signout", "whoami", "whoami-doc",
		"get-token", "token-status", "token-error", "token-result",
		"token-raw", "token-header", "token-payload", "token-context",
		"token-exp", "token-verify", "token-kid",
		"wire-function", "wire-publickey", "wire-token",
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

// app.js talks to chattoken with relative URLs only, and the provider sites
// copy keeps the shape the README documents.
func TestAppJSContract(t *testing.T) {
	js := readDev(t, "app.js")
	for _, want := range []string{
		"function authTokenProvider(callback)",
		"fetch('token', {",
		"method: 'POST'",
		"credentials: 'include'",
		"'Content-Type': 'application/json'",
		"msdyn_pageurl: location.href",
		"controller.abort(), 8000",
		"callback(token)",
		"callback();",
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
	if m := regexp.MustCompile(`fetch\(\s*['"\x60](/|https?:)`).FindString(js); m != "" {
		t.Errorf("app.js fetches a non-relative URL: %s", m)
	}
	if strings.Contains(js, "innerHTML") || strings.Contains(js, "eval(") {
		t.Error("app.js uses innerHTML or eval")
	}
}

func TestDevCSP(t *testing.T) {
	for _, want := range []string{
		"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"base-uri 'none'", "frame-ancestors 'none'",
	} {
		if !strings.Contains(DevCSP, want) {
			t.Errorf("DevCSP lacks %q: %s", want, DevCSP)
		}
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} {
		if strings.Contains(DevCSP, bad) {
			t.Errorf("DevCSP allows %s: %s", bad, DevCSP)
		}
	}
}

func TestAppJSSyntax(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: skipping the syntax check of app.js")
	}
	if out, err := exec.Command(node, "--check", "dev/app.js").CombinedOutput(); err != nil {
		t.Fatalf("node --check dev/app.js: %v\n%s", err, out)
	}
}

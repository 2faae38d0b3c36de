package doctor

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// spoiler is a proxy in front of the real service that breaks one thing,
// the way a misconfigured proxy or a hand-written endpoint does.
type spoiler struct {
	// request may change where and what is asked.
	request func(pr *httputil.ProxyRequest)
	// response may change the answer.
	response func(resp *http.Response) error
}

// serve starts the spoiling proxy in front of target and returns its URL.
func (s spoiler) serve(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			if s.request != nil {
				s.request(pr)
			}
		},
		ModifyResponse: s.response,
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// rewriteBody replaces the body of the answer to path; an error of change
// makes the proxy answer 502, which fails the test's expectations.
func rewriteBody(path string, change func(body []byte) ([]byte, error)) func(*http.Response) error {
	return func(resp *http.Response) error {
		if resp.Request.URL.Path != path {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if body, err = change(body); err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		resp.Header.Del("ETag")
		return nil
	}
}

// TestBrokenDeployments: the real service behind a proxy that breaks it
// one way seen in the wild; the doctor names the broken check, how to fix
// it and the widget's error, and exits 1.
func TestBrokenDeployments(t *testing.T) {
	t.Parallel()
	rs256 := startChattoken(t, nil)
	hs256 := startChattoken(t, map[string]string{
		"CHATTOKEN_SIGNING_ALG":      "HS256",
		"CHATTOKEN_SIGNING_KEY_FILE": harness.WriteFile(t, "secret", []byte(strings.Repeat("0123456789abcdef", 3))),
	})
	rsURL, err := url.Parse(rs256.URL)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		target       string
		spoil        spoiler
		args         []string
		mark, check  string
		want, widget string
	}{
		{"a JSON-quoted PEM", rs256.URL, spoiler{response: rewriteBody("/publickey", func(body []byte) ([]byte, error) {
			return json.Marshal(string(body))
		})}, nil, "✗", "public key", "a JSON-quoted string holding a PEM", "lcw:error 4 (invalid token)"},

		{"an expired key array", rs256.URL, spoiler{
			request: func(pr *httputil.ProxyRequest) {
				if pr.In.URL.Path == "/publickey" {
					pr.Out.URL.RawQuery = "format=array"
				}
			},
			response: rewriteBody("/publickey", func(body []byte) ([]byte, error) {
				var entries []map[string]any
				if err := json.Unmarshal(body, &entries); err != nil {
					return nil, err
				}
				for _, e := range entries {
					e["expiry"] = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
				}
				return json.Marshal(entries)
			}),
		}, nil, "✗", "public key", "expired at 2020-01-01T00:00:00Z", "lcw:error 4 (invalid token)"},

		{"an HS256 token beside a published RSA key", hs256.URL, spoiler{request: func(pr *httputil.ProxyRequest) {
			if pr.In.URL.Path == "/publickey" {
				pr.SetURL(rsURL)
			}
		}}, []string{"--cookie", cookie}, "✗", "token alg", `"HS256": Omnichannel accepts RS256 only`, "lcw:error 4 (invalid token)"},

		{"a wildcard CORS answer", rs256.URL, spoiler{response: func(resp *http.Response) error {
			resp.Header.Set("Access-Control-Allow-Origin", "*")
			return nil
		}}, []string{"--origin", pageOrigin}, "✗", "other origins", "Access-Control-Allow-Origin: * to any origin", "Fix: list only your pages' origins"},

		{"a wildcard hides the token from the page too", rs256.URL, spoiler{response: func(resp *http.Response) error {
			resp.Header.Set("Access-Control-Allow-Origin", "*")
			return nil
		}}, []string{"--origin", pageOrigin}, "✗", "CORS", "Access-Control-Allow-Origin is *, which browsers refuse", "lcw:error 3 (no token)"},

		{"a token for anonymous visitors", rs256.URL, spoiler{request: func(pr *httputil.ProxyRequest) {
			// A "guest session" for whoever has none.
			if pr.In.Header.Get("Cookie") == "" {
				pr.Out.Header.Set("Cookie", cookie)
			}
		}}, nil, "✗", "anonymous", `minted a token for a visitor without credentials (sub "c-ann")`, "the worst failure the doctor can find"},

		{"a clock 2 minutes ahead", rs256.URL, spoiler{response: func(resp *http.Response) error {
			resp.Header.Set("Date", time.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
			return nil
		}}, []string{"--cookie", cookie}, "✗", "clock", "ahead of this machine's; at most 30s is safe", "lcw:error 4 (invalid token)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := tt.spoil.serve(t, tt.target)
			report, code := doctor(t, nil, append(tt.args, base)...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			requireLine(t, report, tt.mark, tt.check, tt.want)
			requireLine(t, report, tt.mark, tt.check, tt.widget)
			// What was not broken still passes.
			requireLine(t, report, "✓", "client.js", "200 text/javascript")
		})
	}
}

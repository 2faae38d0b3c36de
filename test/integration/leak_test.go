package integration

import (
	"bytes"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

// TestNoLeakOfCanaries sends a canary cookie, bearer token and query secret
// through every session mode, answering and failing, with an introspection
// URL that itself carries a canary password and API key. None of them may
// appear in the logs, on /metrics or in the exported spans. Each request
// must be answered as its case expects, be logged and counted, and export
// its spans (the upstream call's too), so the canaries did pass everywhere
// a leak could happen.
func TestNoLeakOfCanaries(t *testing.T) {
	t.Parallel()
	canary := func(what string) string { return "canary-" + what + "-" + rand.Text() }
	var (
		cookie   = canary("cookie")
		bearer   = canary("bearer")
		secret   = canary("query")
		password = canary("password")
		apiKey   = canary("apikey")
	)

	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession(cookie, `{"contact":{"id":"c-ann","email":"ann@shop.example","first_name":"Ann"}}`)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := ln.Addr().String()
	_ = ln.Close()
	introspect := func(server string) func(t *testing.T) map[string]string {
		return func(t *testing.T) map[string]string {
			env, _ := rsaEnv(t, upstream)
			env["CHATTOKEN_INTROSPECT_URL"] = "http://ops:" + password + "@" + strings.TrimPrefix(server, "http://") + "/api/me?api_key=" + apiKey
			return env
		}
	}
	provider := newIDP(t)
	jwtMode := func(t *testing.T) map[string]string { return jwtEnv(t, provider, nil) }
	jwtCookieMode := func(t *testing.T) map[string]string {
		return jwtEnv(t, provider, map[string]string{"CHATTOKEN_JWT_COOKIE": "session"})
	}
	headerMode := func(t *testing.T) map[string]string {
		_, key := harness.WriteRSAKey(t)
		return map[string]string{
			"CHATTOKEN_ISSUER":           "https://shop.example",
			"CHATTOKEN_SIGNING_KEY_FILE": key,
			"CHATTOKEN_SESSION_MODE":     "header",
			"CHATTOKEN_TRUSTED_PROXIES":  "127.0.0.1",
			"CHATTOKEN_HEADER_SUBJECT":   "X-Auth-Request-User",
		}
	}

	for _, tc := range []struct {
		name string
		env  func(t *testing.T) map[string]string
		// bearer is the Authorization token (none when empty), subject
		// the header mode's identity header; upstream says the request
		// calls the upstream.
		bearer, subject string
		status          int
		upstream        bool
	}{
		{"introspect", introspect(upstream.URL), bearer, "", http.StatusOK, true},
		{"introspect, upstream 500", introspect(failing.URL), bearer, "", http.StatusServiceUnavailable, true},
		{"introspect, upstream unreachable", introspect(unreachable), bearer, "", http.StatusServiceUnavailable, true},
		{"jwt", jwtMode, provider.token(t, nil, nil), "", http.StatusOK, false},
		{"jwt, token refused", jwtMode, bearer, "", http.StatusUnauthorized, false},
		{"jwt, cookie refused", jwtCookieMode, "", "", http.StatusUnauthorized, false},
		{"header", headerMode, bearer, "c-ann", http.StatusOK, false},
		{"header, no subject", headerMode, bearer, "", http.StatusUnauthorized, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rx := harness.NewSpanReceiver(t)
			svc := harness.Start(t, rx.Configure(tc.env(t)))
			req, err := http.NewRequest(http.MethodGet, svc.URL+"/token?secret="+secret, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Cookie", "session="+cookie)
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			if tc.subject != "" {
				req.Header.Set("X-Auth-Request-User", tc.subject)
			}
			if resp, body := harness.Send(t, req); resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}

			rx.WaitFor(t, "request span", harness.ServerSpan)
			if tc.upstream {
				rx.WaitFor(t, "upstream span", harness.ClientSpan)
			}
			logged := `"status":` + strconv.Itoa(tc.status)
			logs := svc.Logs(logged)
			if !strings.Contains(logs, logged) {
				t.Fatalf("the request was not logged:\n%s", logs)
			}
			resp, metrics := harness.Do(t, http.MethodGet, svc.MetricsURL+"/metrics", "", "", "")
			if counted := `route="/token"`; resp.StatusCode != http.StatusOK || !bytes.Contains(metrics, []byte(counted)) {
				t.Fatalf("/metrics: %d, without %s", resp.StatusCode, counted)
			}
			sinks := map[string][]byte{"the logs": []byte(logs), "/metrics": metrics, "the exported spans": rx.Raw()}
			for _, c := range []string{cookie, bearer, tc.bearer, secret, password, apiKey} {
				if c == "" {
					continue
				}
				for sink, data := range sinks {
					if bytes.Contains(data, []byte(c)) {
						t.Errorf("%.20s… is in %s", c, sink)
					}
				}
			}
		})
	}
}

package integration

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// TestHeaderMode: identity headers are believed from a trusted proxy only.
func TestHeaderMode(t *testing.T) {
	t.Parallel()
	start := func(trusted string) *harness.Service {
		_, key := harness.WriteRSAKey(t)
		return harness.Start(t, map[string]string{
			"CHATTOKEN_ISSUER":           "https://shop.example",
			"CHATTOKEN_SIGNING_KEY_FILE": key,
			"CHATTOKEN_SESSION_MODE":     "header",
			"CHATTOKEN_HEADER_SUBJECT":   "X-Auth-Request-User",
			"CHATTOKEN_HEADER_CLAIMS":    "mail=X-Auth-Request-Email",
			"CHATTOKEN_IDENTITY_CLAIMS":  "email=mail",
			"CHATTOKEN_TRUSTED_PROXIES":  trusted,
		})
	}
	request := func(svc *harness.Service, appended ...string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, svc.URL+"/token", nil)
		req.Header.Set("X-Auth-Request-User", "c-ann")
		req.Header.Set("X-Auth-Request-Email", "ann@shop.example")
		for i := 0; i+1 < len(appended); i += 2 {
			req.Header.Add(appended[i], appended[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp, body
	}

	// The test's requests come from 127.0.0.1: a trusted proxy here.
	trusted := start("127.0.0.1")
	resp, body := request(trusted)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("from a trusted proxy: %d %s", resp.StatusCode, body)
	}
	var answer struct{ Token string }
	_ = json.Unmarshal(body, &answer)
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(answer.Token, claims); err != nil || claims["sub"] != "c-ann" || claims["email"] != "ann@shop.example" {
		t.Errorf("claims %v (%v)", claims, err)
	}

	// A proxy that appends its header after the client's leaves two copies:
	// neither is believed, whichever header it is.
	for _, header := range []string{"X-Auth-Request-User", "X-Auth-Request-Email"} {
		resp, body = request(trusted, header, "c-bob")
		var p struct{ Code string }
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != http.StatusUnauthorized || p.Code != "unauthenticated" {
			t.Errorf("%s twice: %d %s, want 401 unauthenticated", header, resp.StatusCode, body)
		}
	}

	// Another trusted network: the same headers from loopback are forged.
	resp, body = request(start("10.0.0.0/8"))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("from an untrusted peer: %d %s, want 401", resp.StatusCode, body)
	}
}

// TestUpstream429 passes the session backend's request to slow down on.
func TestUpstream429(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "9")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(upstream.Close)
	_, key := harness.WriteRSAKey(t)
	svc := harness.Start(t, map[string]string{
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE": key,
		"CHATTOKEN_INTROSPECT_URL":   upstream.URL,
	})
	resp, body := harness.Do(t, http.MethodGet, svc.URL+"/token", "ann", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "9" {
		t.Fatalf("%d Retry-After %q %s; want 503 with Retry-After 9", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

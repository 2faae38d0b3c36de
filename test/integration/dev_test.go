package integration

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// TestDevMode runs `chattoken dev` with no configuration and walks the path
// of the dev page: sign in on the demo site, fetch a token the way the widget
// does, verify it against /publickey.
func TestDevMode(t *testing.T) {
	t.Parallel()
	svc := harness.Start(t, map[string]string{}, "dev")
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	do := func(method, path, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, svc.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp, data
	}

	resp, page := do(http.MethodGet, "/", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "app.js") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("dev page: %d %v", resp.StatusCode, resp.Header)
	}
	for _, asset := range []string{"/app.js", "/style.css"} {
		if resp, _ := do(http.MethodGet, asset, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", asset, resp.StatusCode)
		}
	}
	if logs := svc.Logs("DEV MODE"); !strings.Contains(logs, "DEV MODE") || !strings.Contains(logs, "not for production") {
		t.Errorf("dev mode does not say loudly that it is not for production:\n%s", logs)
	}

	if resp, body := do(http.MethodPost, "/token", `{"context":{"msdyn_pageurl":"http://127.0.0.1/"}}`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token before sign-in: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(http.MethodPost, "/dev/signin", `{"name":"Ann Example","cart_total":1e4,"vip":true}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	resp, body := do(http.MethodPost, "/token", `{"context":{"msdyn_pageurl":"http://127.0.0.1/cart"}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	var answer struct{ Token string }
	_ = json.Unmarshal(body, &answer)

	_, pemBody := do(http.MethodGet, "/publickey", "")
	block, _ := pem.Decode(pemBody)
	if block == nil {
		t.Fatalf("publickey %q", pemBody)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(answer.Token, claims, func(*jwt.Token) (any, error) { return pub.(*rsa.PublicKey), nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(svc.URL)); err != nil {
		t.Fatalf("dev token does not verify: %v", err)
	}
	// Name and Email are what Omnichannel's customer identification
	// searches contacts by.
	want := `{"Email":"ann.example@example.com","Name":"Ann Example","msdyn_cartvalue":"10000","msdyn_channel":"web","msdyn_isvip":"true","msdyn_pageurl":"http://127.0.0.1/cart"}`
	if claims["lwicontexts"] != want || claims["given_name"] != "Ann Example" || claims["email"] != "ann.example@example.com" {
		t.Errorf("claims %v", claims)
	}
	// The demo subject is a GUID, as a Dataverse contact id is.
	if sub, _ := claims["sub"].(string); !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(sub) {
		t.Errorf("sub %q is not a GUID", sub)
	}

	if resp, _ := do(http.MethodPost, "/dev/signout", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("sign-out: %d", resp.StatusCode)
	}
	if resp, _ := do(http.MethodGet, "/token", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token after sign-out: %d, want 401", resp.StatusCode)
	}
}

func TestDevModeRefusesANonLoopbackAddress(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:8080", "[::]:8080", "192.0.2.1:8080"} {
		cmd := exec.Command(harness.Binary, "dev")
		cmd.Env = []string{"CHATTOKEN_ADDR=" + addr}
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "CHATTOKEN_ADDR") {
			t.Errorf("dev on %s: exit %d %q; want 2 naming CHATTOKEN_ADDR", addr, code, out)
		}
	}
}

// TestServeHasNoDevRoutes guards against the demo sign-in leaking into
// production: it would let anyone mint a token for anyone.
func TestServeHasNoDevRoutes(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	env, _ := rsaEnv(t, upstream)
	svc := harness.Start(t, env)
	for _, path := range []string{"/", "/dev/whoami", "/app.js"} {
		if resp, _ := harness.Do(t, http.MethodGet, svc.URL+path, "", "", ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("serve answers %s with %d, want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := harness.Do(t, http.MethodPost, svc.URL+"/dev/signin", "", "application/json", `{"name":"x"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("serve answers /dev/signin with %d, want 404", resp.StatusCode)
	}
}

// TestDevModeAnswersOnlyLoopbackHosts: a page on the internet that points its
// own name at 127.0.0.1 (DNS rebinding) reaches dev mode with that name as the
// Host, and must get nothing from it, least of all a token.
func TestDevModeAnswersOnlyLoopbackHosts(t *testing.T) {
	t.Parallel()
	svc := harness.Start(t, map[string]string{}, "dev")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(svc.URL, "http://"))
	for host, want := range map[string]int{
		"127.0.0.1:" + port:                  http.StatusOK,
		"localhost:" + port:                  http.StatusOK,
		"LocalHost:" + port:                  http.StatusOK,
		"shop.localhost:" + port:             http.StatusOK,
		"[::1]:" + port:                      http.StatusOK,
		"127.0.0.2:" + port:                  http.StatusOK,
		"rebind.attacker.example:" + port:    http.StatusMisdirectedRequest,
		"rebind.attacker.example":            http.StatusMisdirectedRequest,
		"localhost":                          http.StatusMisdirectedRequest,
		"localhost:1":                        http.StatusMisdirectedRequest,
		"192.0.2.1:" + port:                  http.StatusMisdirectedRequest,
		"localhost.attacker.example:" + port: http.StatusMisdirectedRequest,
	} {
		for _, path := range []string{"/", "/token", "/dev/whoami"} {
			req, _ := http.NewRequest(http.MethodGet, svc.URL+path, nil)
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if want == http.StatusOK {
				// Allowed through: whatever the route answers, never 421.
				if resp.StatusCode == http.StatusMisdirectedRequest {
					t.Errorf("Host %q %s: 421, want it answered", host, path)
				}
				continue
			}
			var p struct{ Code string }
			_ = json.Unmarshal(body, &p)
			if resp.StatusCode != want || p.Code != "misdirected_request" ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("Host %q %s: %d %s %s, want 421 misdirected_request", host, path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
	}
}

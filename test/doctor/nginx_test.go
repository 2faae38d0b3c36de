package doctor

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// nginxHTTP serves chattoken at /chat-auth/ with TLS, through the shipped
// snippets: the upstream block (with chattoken's real address) in http{},
// the location block in the server{}.
const nginxHTTP = `
    include %[1]s/upstream.conf;

    server {
        listen 127.0.0.1:%[2]d ssl;
        ssl_certificate     %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;

        include %[3]s;

        location / {
            return 404;
        }
    }
`

// TestHealthyDeploymentBehindNginx: the doctor, run as an admin would
// against chattoken behind nginx with a certificate from a private CA,
// passes every check once told to trust that CA, and prints what to enter
// in Omnichannel.
func TestHealthyDeploymentBehindNginx(t *testing.T) {
	t.Parallel()
	svc := startChattoken(t, nil)
	dir := t.TempDir()
	caPath, roots := harness.WriteTLS(t, dir)
	base := startNginx(t, dir, svc.URL, roots) + "/chat-auth"

	report, code := doctor(t, nil, "--cacert", caPath, "--cookie", cookie, "--origin", pageOrigin, base)
	if code != 0 {
		t.Fatalf("exit %d for a healthy deployment:\n%s", code, report)
	}
	checks := 0
	for _, line := range strings.Split(report, "\n") {
		switch {
		case strings.HasPrefix(line, "✓ "):
			checks++
		case strings.HasPrefix(line, "⚠ "), strings.HasPrefix(line, "✗ "):
			t.Errorf("not green: %s", line)
		}
	}
	for _, check := range []string{"public key URL", "public key", "client.js", "CORS", "other origins", "anonymous", "token", "expires_in", "clock"} {
		requireLine(t, report, "✓", check, "")
	}
	requireLine(t, report, "✓", "public key URL", base+"/publickey: HTTPS")
	requireLine(t, report, "✓", "token", "sub c-ann")
	for _, want := range []string{
		"  Public key URL              " + base + "/publickey\n",
		"  JavaScript client function  chattoken.authTokenProvider\n",
		fmt.Sprintf("%d checks: %d passed, 0 warnings, 0 failed.", checks, checks),
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, cookie) {
		t.Errorf("the report repeats the cookie:\n%s", report)
	}

	// The same for a script.
	out, code := doctor(t, nil, "--json", "--cacert", caPath, "--cookie", cookie, "--origin", pageOrigin, base)
	var parsed struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name, Status string
		} `json:"checks"`
		Settings struct {
			PublicKeyURL string `json:"public_key_url"`
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(out), &parsed); err != nil || code != 0 || !parsed.OK ||
		len(parsed.Checks) != checks || parsed.Settings.PublicKeyURL != base+"/publickey" {
		t.Errorf("--json: exit %d, %v:\n%s", code, err, out)
	}

	// Not told to trust the CA, the doctor sees what Microsoft's servers
	// would see of a private CA, and says how to trust it for a test.
	report, code = doctor(t, nil, base)
	if code != 1 {
		t.Errorf("exit %d with an untrusted certificate, want 1", code)
	}
	requireLine(t, report, "✗", "public key", "give --cacert")

	// SSL_CERT_FILE does the same as --cacert. Without credentials the token
	// is not checked: a warning, which leaves the exit status 0.
	report, code = doctor(t, []string{"SSL_CERT_FILE=" + caPath}, base)
	if code != 0 {
		t.Errorf("exit %d with SSL_CERT_FILE and only a warning, want 0:\n%s", code, report)
	}
	requireLine(t, report, "⚠", "token", "give --cookie")
	requireLine(t, report, "✓", "anonymous", "401 unauthenticated")
}

// startNginx runs nginx with TLS on a free loopback port in front of
// chattoken and returns its https URL.
func startNginx(t *testing.T, dir, chattokenURL string, roots *x509.CertPool) string {
	t.Helper()
	location := harness.ShippedSnippets(t, dir, strings.TrimPrefix(chattokenURL, "http://"))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	n := harness.StartNginx(t, dir,
		func(port int) string { return fmt.Sprintf(nginxHTTP, dir, port, location) },
		func(port int) bool {
			return harness.Answers200(client, fmt.Sprintf("https://127.0.0.1:%d/chat-auth/healthz", port))
		})
	return fmt.Sprintf("https://127.0.0.1:%d", n.Port)
}

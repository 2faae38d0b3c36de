package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

// proxy is an nginx in front of chattoken (at /chat-auth/, with the shipped
// deploy/nginx snippets) and of the shop (at /), with TLS on loopback.
type proxy struct {
	URL    string       // https://127.0.0.1:port
	Client *http.Client // trusts the proxy's throwaway certificate
	nginx  *harness.Nginx
}

// nginxHTTP is the http{} block: the shipped upstream block (with
// chattoken's real address), and the shipped location block in the site's
// server{}.
const nginxHTTP = `
    default_type application/octet-stream;

    include %[1]s/upstream.conf;

    server {
        listen 127.0.0.1:%[2]d ssl;
        server_name 127.0.0.1 localhost;
        ssl_certificate     %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;

        include %[3]s;

        # The shop itself.
        location / {
            proxy_pass http://%[4]s;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
        }
    }
`

// startNginx runs nginx on a free loopback port in front of chattoken
// (chattokenURL) and the shop (shopURL), until the test ends.
func startNginx(t *testing.T, chattokenURL, shopURL string) *proxy {
	t.Helper()
	dir := t.TempDir()
	_, pool := harness.WriteTLS(t, dir)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	// The shipped snippets, used as an operator would: the location block
	// included as is, the upstream block with the real address.
	location := harness.ShippedSnippets(t, dir, hostPort(t, chattokenURL))
	n := harness.StartNginx(t, dir,
		func(port int) string {
			return fmt.Sprintf(nginxHTTP, dir, port, location, hostPort(t, shopURL))
		},
		func(port int) bool {
			return harness.Answers200(client, fmt.Sprintf("https://127.0.0.1:%d/chat-auth/healthz", port))
		})
	return &proxy{URL: fmt.Sprintf("https://127.0.0.1:%d", n.Port), Client: client, nginx: n}
}

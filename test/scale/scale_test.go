// Package scale shows horizontal scaling on one machine: three chattoken
// replicas with one key behind nginx (the shipped deploy/nginx snippets),
// load through nginx while one replica is killed and another stopped, and
// limits shared through Redis.
package scale

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// nginxHTTP balances the replicas through the shipped location block.
const nginxHTTP = `
    upstream chattoken {
%[1]s        keepalive 32;
    }
    server {
        listen 127.0.0.1:%[2]d;
        include %[3]s;
    }
`

// result is the outcome of one request of the load.
type result struct {
	at     time.Time
	status int
	err    error
	token  string
}

func TestThreeReplicasBehindNginx(t *testing.T) {
	t.Parallel()
	redisURL := harness.StartRedis(t)

	// The site's session endpoint: cookie s=<id> is the session of c-<id>.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("s")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"sub":"c-%s"}`, c.Value)
	}))
	t.Cleanup(upstream.Close)

	dir := t.TempDir()
	_, key := harness.WriteRSAKey(t)
	var replicas []*harness.Service
	for range 3 {
		replicas = append(replicas, harness.Start(t, map[string]string{
			"CHATTOKEN_ISSUER":             "https://shop.example",
			"CHATTOKEN_SIGNING_KEY_FILE":   key,
			"CHATTOKEN_INTROSPECT_URL":     upstream.URL,
			"CHATTOKEN_REDIS_URL":          redisURL,
			"CHATTOKEN_RATE_LIMIT_SUBJECT": "5",
			"CHATTOKEN_SHUTDOWN_DELAY":     "1s",
			"CHATTOKEN_TRUSTED_PROXIES":    "127.0.0.1",
		}))
	}

	// Every replica publishes the same key set, byte for byte.
	_, jwks := harness.Do(t, http.MethodGet, replicas[0].URL+"/.well-known/jwks.json", "", "", "")
	for _, r := range replicas[1:] {
		if _, other := harness.Do(t, http.MethodGet, r.URL+"/.well-known/jwks.json", "", "", ""); string(other) != string(jwks) {
			t.Fatalf("replicas publish different keys:\n%s\n%s", jwks, other)
		}
	}

	var servers strings.Builder
	for _, r := range replicas {
		fmt.Fprintf(&servers, "        server %s max_fails=1 fail_timeout=10s;\n", strings.TrimPrefix(r.URL, "http://"))
	}
	location, err := filepath.Abs("../../deploy/nginx/chattoken.conf")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	n := harness.StartNginx(t, dir,
		func(port int) string {
			return fmt.Sprintf(nginxHTTP, servers.String(), port, location)
		},
		func(port int) bool {
			return harness.Answers200(client, fmt.Sprintf("http://127.0.0.1:%d/chat-auth/healthz", port))
		})
	base := fmt.Sprintf("http://127.0.0.1:%d/chat-auth", n.Port)

	// The load: 8 workers, each a stream of new sessions, for 5 s; the
	// first replica is killed at 1.5 s, the second stopped at 3 s.
	const workers = 8
	start := time.Now()
	deadline := start.Add(5 * time.Second)
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && i < 5000; i++ {
				res := ask(client, base, fmt.Sprintf("w%d-%d", w, i))
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	killedAt := time.Now()
	if err := replicas[0].Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	stoppedAt := time.Now()
	if err := replicas[1].Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if code := replicas[1].Wait(t, 15*time.Second); code != 0 {
		t.Errorf("the SIGTERM'd replica exited %d, want 0", code)
	}

	// No request is lost but those in flight at the SIGKILL (at most one
	// per worker); none at all around the SIGTERM.
	var lostAtKill, lostElsewhere []result
	for _, r := range results {
		if r.status == http.StatusOK {
			continue
		}
		if !r.at.Before(killedAt) && r.at.Before(killedAt.Add(time.Second)) {
			lostAtKill = append(lostAtKill, r)
		} else {
			lostElsewhere = append(lostElsewhere, r)
		}
	}
	if len(lostAtKill) > workers {
		t.Errorf("%d requests failed around the SIGKILL; at most the %d in flight may", len(lostAtKill), workers)
	}
	if len(lostElsewhere) > 0 {
		t.Errorf("%d requests failed away from the SIGKILL (SIGTERM at %s), first: %+v",
			len(lostElsewhere), stoppedAt.Sub(start).Round(time.Millisecond), lostElsewhere[0])
	}
	if len(results) < 200 {
		t.Fatalf("only %d requests in 5 s: the load did not run", len(results))
	}

	// Every token verifies with the JWKS of any replica: the survivor's.
	survivor := fetchJWKS(t, replicas[2].URL)
	for i, r := range results {
		if r.status != http.StatusOK {
			continue
		}
		if _, err := jwt.Parse(r.token, func(tok *jwt.Token) (any, error) {
			kid, _ := tok.Header["kid"].(string)
			return survivor[kid], nil
		}, jwt.WithValidMethods([]string{"RS256"})); err != nil {
			t.Fatalf("token %d does not verify with the survivor's JWKS: %v", i, err)
		}
	}
	t.Logf("%d requests, %d lost at the SIGKILL, replicas killed at %s and stopped at %s",
		len(results), len(lostAtKill), killedAt.Sub(start).Round(time.Millisecond), stoppedAt.Sub(start).Round(time.Millisecond))

	// Per-subject limits hold across replicas: six requests for one
	// subject, whichever replica answers, and the sixth is refused.
	replacement := harness.Start(t, map[string]string{
		"CHATTOKEN_ISSUER":             "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE":   key,
		"CHATTOKEN_INTROSPECT_URL":     upstream.URL,
		"CHATTOKEN_REDIS_URL":          redisURL,
		"CHATTOKEN_RATE_LIMIT_SUBJECT": "5",
		"CHATTOKEN_TOKEN_REUSE":        "false",
	})
	var statuses []int
	for i := range 6 {
		target := []string{replacement.URL, replicas[2].URL}[i%2]
		statuses = append(statuses, ask(client, target, "limit").status)
	}
	if fmt.Sprint(statuses) != "[200 200 200 200 200 429]" {
		t.Errorf("one subject across two replicas: %v; want five tokens then 429", statuses)
	}
}

func ask(client *http.Client, base, session string) result {
	req, _ := http.NewRequest(http.MethodGet, base+"/token", nil)
	req.Header.Set("Cookie", "s="+session)
	resp, err := client.Do(req)
	if err != nil {
		return result{at: time.Now(), err: err}
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &body)
	return result{at: time.Now(), status: resp.StatusCode, token: body.Token}
}

func fetchJWKS(t *testing.T, base string) map[string]*rsa.PublicKey {
	t.Helper()
	resp, body := harness.Do(t, http.MethodGet, base+"/.well-known/jwks.json", "", "", "")
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &set) != nil {
		t.Fatalf("JWKS of %s: %d", base, resp.StatusCode)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return out
}

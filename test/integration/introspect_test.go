package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

// TestIntrospectCacheMemory caches 64 sessions whose upstream documents are
// about 1 MiB each: the process keeps what the tokens need from them, not
// the documents, and the cached sessions still mint the right tokens.
func TestIntrospectCacheMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		harness.MissingTool(t, "/proc (Linux)", "needed to read the process's resident memory")
	}
	t.Parallel()
	const sessions = 64
	upstream := harness.NewSessionUpstream(t)
	// Most of each document (just under the 1 MiB an upstream answer may
	// be) is members nobody reads, as from a profile endpoint that returns
	// everything it knows.
	half := strings.Repeat("p", 500_000)
	for i := range sessions {
		upstream.AddSession("big-"+strconv.Itoa(i), fmt.Sprintf(
			`{"contact":{"id":"c-%d","email":"%d@shop.example","first_name":"Ann","notes":"%s"},"cart":{"total":%d},"vip":true,"history":"%s"}`,
			i, i, half, i, half))
	}
	upstream.AddSession("warm", `{"contact":{"id":"c-warm"},"vip":false}`)
	env, key := rsaEnv(t, upstream)
	env["CHATTOKEN_CONTEXT_FILE"] = harness.WriteFile(t, "context.json", fmt.Appendf(nil, contextSchema, "string"))
	env["CHATTOKEN_MAX_CONTEXT_BYTES"] = "2048"
	svc := harness.Start(t, env)

	tokenClaims(t, svc, key, "warm")
	before := residentBytes(t, svc)
	check := func(i int) {
		c := tokenClaims(t, svc, key, "big-"+strconv.Itoa(i))
		want := map[string]any{"sub": fmt.Sprintf("c-%d", i), "email": fmt.Sprintf("%d@shop.example", i), "given_name": "Ann",
			"lwicontexts": fmt.Sprintf(`{"msdyn_cartvalue":"%d","msdyn_channel":"web","msdyn_isvip":"true"}`, i)}
		for name, v := range want {
			if c[name] != v {
				t.Errorf("session big-%d: %s = %v, want %v", i, name, c[name], v)
			}
		}
	}
	for i := range sessions {
		check(i)
	}
	after := residentBytes(t, svc)
	t.Logf("resident memory: %d MiB before, %d MiB after caching %d sessions", before>>20, after>>20, sessions)
	// Whole documents would hold over 64 MB here (87 MB before documents
	// were cut down to what is read); the kept values are a few KB.
	if grew := after - before; grew > 30<<20 {
		t.Errorf("caching %d sessions of 1 MiB documents grew the process by %d MiB (from %d MiB)", sessions, grew>>20, before>>20)
	}
	// Served again from the cache, without asking the upstream: the kept
	// values are the ones tokens are made of.
	calls := len(upstream.Received())
	for i := range sessions {
		check(i)
	}
	if n := len(upstream.Received()) - calls; n != 0 {
		t.Errorf("%d upstream calls for sessions that should be cached", n)
	}
}

// residentBytes reads the service process's resident memory (VmRSS).
func residentBytes(t *testing.T, svc *harness.Service) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", svc.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", svc.Cmd.Process.Pid)
	return 0
}

// TestIntrospectWithoutCredentials: a request carrying none of the session
// headers is refused at once; the upstream never hears of it.
func TestIntrospectWithoutCredentials(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, headers, cookie string
	}{
		{"no cookie", "", ""},
		{"a cookie, where another header carries the session", "X-Session-Token", "ann"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			upstream := harness.NewSessionUpstream(t)
			upstream.AddSession("ann", `{"contact":{"id":"c-ann"}}`)
			env, _ := rsaEnv(t, upstream)
			if tt.headers != "" {
				env["CHATTOKEN_INTROSPECT_HEADERS"] = tt.headers
			}
			svc := harness.Start(t, env)
			for range 3 {
				checkRefusal(t, svc, tt.cookie, "", "", http.StatusUnauthorized, "unauthenticated", "not signed in")
			}
			if got := upstream.Received(); len(got) != 0 {
				t.Errorf("the upstream was asked %d times about requests without credentials", len(got))
			}
		})
	}
}

// TestIntrospectErrorsLogNoURLSecrets: when the upstream fails, the log
// names it by scheme, host and path, never by its user info or query.
func TestIntrospectErrorsLogNoURLSecrets(t *testing.T) {
	t.Parallel()
	const password, query = "pw-canary-7f3a", "query-canary-91bd"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	upstream := harness.NewSessionUpstream(t)
	answering := strings.TrimPrefix(upstream.URL, "http://")
	for _, tt := range []struct {
		name, host, cookie string
	}{
		{"connection refused", closed, "ann"},
		{"500", answering, "upstream-500"},
		{"timeout", answering, "upstream-hangs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, _ := rsaEnv(t, upstream)
			env["CHATTOKEN_INTROSPECT_URL"] = "http://ops:" + password + "@" + tt.host + "/api/me?api_key=" + query
			env["CHATTOKEN_INTROSPECT_TIMEOUT"] = "300ms"
			svc := harness.Start(t, env)
			checkRefusal(t, svc, tt.cookie, "", "", http.StatusServiceUnavailable, "session_unavailable", "")
			safe := "GET http://" + tt.host + "/api/me:"
			logs := svc.Logs(safe)
			if !strings.Contains(logs, safe) {
				t.Errorf("the log does not name the upstream as %q:\n%s", safe, logs)
			}
			for _, secret := range []string{password, query, "ops:"} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log holds %q from the URL:\n%s", secret, logs)
				}
			}
		})
	}
}

package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

// randomMethod is an HTTP token of n random letters: a method no server
// knows, but every HTTP/1.1 server must parse.
func randomMethod(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// seriesOf returns the metrics listener's sample lines (one per series) of
// chattoken's own metrics.
func seriesOf(t *testing.T, svc *harness.Service) (lines []string, size int) {
	t.Helper()
	resp, body := harness.Do(t, http.MethodGet, svc.MetricsURL+"/metrics", "", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, "chattoken_") {
			name, _, _ := strings.Cut(line, " ")
			lines = append(lines, name)
		}
	}
	return lines, len(body)
}

// TestUnknownMethods: any token is a valid HTTP method, so a client could
// make each request a new metrics series, span name and log value. A method
// outside the known set gets 501 from the first middleware and is recorded
// only as _OTHER.
func TestUnknownMethods(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	env, _ := rsaEnv(t, upstream)
	svc := harness.Start(t, env)
	client := &http.Client{}
	send := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, svc.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp, buf.Bytes()
	}
	paths := []string{"/token", "/publickey", "/healthz", "/nowhere"}

	// The first refusal may add its own fixed series (_OTHER, 501).
	send(randomMethod(8), "/token")
	before, sizeBefore := seriesOf(t, svc)

	for i := range 1000 {
		method := randomMethod(4 + i%12)
		if i%100 == 0 {
			method = randomMethod(8 << 10) // a long one: 8 KiB
		}
		resp, body := send(method, paths[i%len(paths)])
		var p struct {
			Status int
			Code   string
		}
		if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != http.StatusNotImplemented ||
			p.Code != "method_not_implemented" || p.Status != http.StatusNotImplemented ||
			resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("method %.20s... %s: %d %s %.200s, want 501 method_not_implemented", method, paths[i%len(paths)], resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	after, sizeAfter := seriesOf(t, svc)
	if len(after) != len(before) {
		t.Errorf("1,000 random methods added %d series (%d -> %d)", len(after)-len(before), len(before), len(after))
	}
	if sizeAfter > sizeBefore+1024 {
		t.Errorf("/metrics grew from %d to %d bytes", sizeBefore, sizeAfter)
	}
	if joined := strings.Join(after, "\n"); !strings.Contains(joined, `method="_OTHER",route="unmatched",status="501"`) {
		t.Errorf("no series of the request histogram with method=\"_OTHER\", status=\"501\":\n%s", joined)
	}

	// Known methods still reach the router: 405 where the route lacks
	// them, with the methods it has.
	for _, method := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodTrace} {
		if resp, body := send(method, "/token"); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /token: %d %s, want 405", method, resp.StatusCode, body)
		}
	}

	// The log records the fixed set only: no line holds a random method.
	logs := svc.Logs(`"method":"_OTHER"`)
	for line := range strings.SplitSeq(logs, "\n") {
		var entry struct{ Method string }
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Method == "" {
			continue
		}
		switch entry.Method {
		case "_OTHER", http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
			http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		default:
			t.Fatalf("a log line records method %.40q", entry.Method)
		}
	}
	if !strings.Contains(logs, `"method":"_OTHER"`) {
		t.Errorf("no log line records an unknown method as _OTHER:\n%.2000s", logs)
	}
}

// Package doctor runs `chattoken doctor`, the binary, against a real
// deployment (chattoken behind nginx with TLS, every check green) and
// against deployments broken the ways seen in the wild, each served by the
// test: the real service behind a proxy that spoils one thing.
package doctor

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

const (
	pageOrigin = "https://shop.example"
	cookie     = "session=ann"
)

// startChattoken runs `chattoken serve` in introspect mode, with one
// signed-in visitor (the cookie above), the page's origin listed for CORS,
// and extra settings on top.
func startChattoken(t *testing.T, extra map[string]string) *harness.Service {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"sub":"c-ann","name":"Ann"}`)
	_, keyPath := harness.WriteRSAKey(t)
	env := map[string]string{
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE": keyPath,
		"CHATTOKEN_INTROSPECT_URL":   upstream.URL + "/api/me",
		"CHATTOKEN_CORS_ORIGINS":     pageOrigin,
	}
	for k, v := range extra {
		env[k] = v
	}
	return harness.Start(t, env)
}

// doctor runs `chattoken doctor` with args and the extra environment, and
// returns its stdout and exit status.
func doctor(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary, append([]string{"doctor"}, args...)...)
	// Exactly env: nothing of this machine's environment (a proxy, its
	// own SSL_CERT_FILE) changes what the doctor sees.
	cmd.Env = append([]string{}, env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("doctor still running after 30s:\n%s", stdout.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 && code != 1 {
		t.Fatalf("doctor exited %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	return stdout.String(), cmd.ProcessState.ExitCode()
}

// requireLine fails unless report has a line for check with the mark
// (✓, ⚠ or ✗) that contains want.
func requireLine(t *testing.T, report, mark, check, want string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(mark+" "+check) + ` .*` + regexp.QuoteMeta(want))
	if !re.MatchString(report) {
		t.Errorf("no %q line for %s containing %q:\n%s", mark, check, want, report)
	}
}

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/keys"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRunHelpAndUnknownCommand(t *testing.T) {
	t.Parallel()
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"--help"}, envFunc(nil), nil, &stdout, &stderr); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, c := range commands() {
		if !strings.Contains(stdout.String(), c.name) {
			t.Errorf("--help does not list %s", c.name)
		}
	}
	err := run(context.Background(), []string{"nope"}, envFunc(nil), nil, &stdout, &stderr)
	if exitCode(err) != 2 {
		t.Errorf("unknown command: %v, exit %d; want 2", err, exitCode(err))
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"keygen", "--help"}, envFunc(nil), nil, &stdout, &stderr); err != nil ||
		!strings.Contains(stdout.String(), "-bits") {
		t.Errorf("keygen --help: %v %q", err, stdout.String())
	}
	if err := run(context.Background(), []string{"serve", "extra"}, envFunc(nil), nil, &stdout, &stderr); exitCode(err) != 2 {
		t.Errorf("serve with an argument: %v; want a usage error", err)
	}
}

func TestRunConfigErrorExits2(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), nil, envFunc(nil), nil, io.Discard, io.Discard)
	var cfgErr *config.Error
	if !errors.As(err, &cfgErr) || exitCode(err) != 2 {
		t.Fatalf("run with no configuration: %v (exit %d); want a config error, exit 2", err, exitCode(err))
	}
	if exitCode(errors.New("listen: address in use")) != 1 {
		t.Error("a runtime failure must exit 1")
	}
}

// TestRunServesUntilCancelled runs the service in-process, as main does,
// and stops it by cancelling the context, as a signal does.
func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, err := keys.WriteRSA(dir, key, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	env := envFunc(map[string]string{
		"CHATTOKEN_ADDR":             "127.0.0.1:0",
		"CHATTOKEN_METRICS_ADDR":     "off",
		"CHATTOKEN_ISSUER":           "https://shop.example",
		"CHATTOKEN_SIGNING_KEY_FILE": path,
		"CHATTOKEN_INTROSPECT_URL":   "http://127.0.0.1:9/me",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, env, nil, io.Discard, pw)
		_ = pw.Close()
	}()

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct{ Message, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "listening" {
				addr <- line.Addr
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening after 10s")
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel; want nil", err)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("run did not return within 12s of cancel")
	}
}

// TestRunInspectReadsStdin mints a token through run and hands it to
// `inspect -` on run's stdin: the token read there is the one checked, its
// signature verified against the key's PEM.
func TestRunInspectReadsStdin(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPath, err := keys.WriteRSA(dir, key, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "public.pem")
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envFunc(map[string]string{"CHATTOKEN_ISSUER": "https://shop.example", "CHATTOKEN_SIGNING_KEY_FILE": keyPath})
	var minted strings.Builder
	if err := run(context.Background(), []string{"mint", "--sub", "c-ann"}, env, nil, &minted, io.Discard); err != nil {
		t.Fatalf("mint: %v", err)
	}
	tok := strings.TrimSpace(minted.String())

	inspect := func(stdin string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), []string{"inspect", "--publickey", pubPath, "-"}, env, strings.NewReader(stdin), &out, io.Discard)
		return out.String(), err
	}
	report, err := inspect(tok + "\n")
	if err != nil || !regexp.MustCompile(`(?m)^PASS +signature`).MatchString(report) || !strings.Contains(report, "c-ann") {
		t.Errorf("inspect - of the minted token: %v\n%s", err, report)
	}
	// One character of the signature changed: the same check must now
	// fail, so it was the stdin token that was verified.
	at := strings.LastIndexByte(tok, '.') + 10
	swap := map[bool]string{true: "A", false: "B"}[tok[at] != 'A']
	tampered := tok[:at] + swap + tok[at+1:]
	if report, err := inspect(tampered); !errors.Is(err, errChecksFailed) || !regexp.MustCompile(`(?m)^FAIL +signature`).MatchString(report) {
		t.Errorf("inspect - of a tampered token: %v\n%s", err, report)
	}
}

package integration

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	env, _ := rsaEnv(t, upstream)
	svc := harness.Start(t, env)

	up := exec.Command(harness.Binary, "healthcheck")
	up.Env = []string{"CHATTOKEN_ADDR=" + strings.TrimPrefix(svc.URL, "http://")}
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck of a running service: %v %s", err, out)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	down := exec.Command(harness.Binary, "healthcheck")
	down.Env = []string{"CHATTOKEN_ADDR=" + closed}
	_ = down.Run()
	if code := down.ProcessState.ExitCode(); code != 1 {
		t.Errorf("healthcheck of nothing exits %d, want 1", code)
	}
}

func TestKeygenCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := exec.Command(harness.Binary, "keygen", "--out", dir).Output()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	if !strings.HasPrefix(string(out), "kid: ") || !strings.Contains(string(out), "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("keygen printed %q", out)
	}
	bad := exec.Command(harness.Binary, "keygen", "--bits", "1024", "--out", dir)
	_ = bad.Run()
	if code := bad.ProcessState.ExitCode(); code != 2 {
		t.Errorf("keygen --bits 1024 exits %d, want 2", code)
	}
}

// TestMintThenInspect mints with the CLI and checks the token with inspect
// against the running service's published keys, as an admin would.
func TestMintThenInspect(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	env, _ := rsaEnv(t, upstream)
	env["CHATTOKEN_CONTEXT_FILE"] = harness.WriteFile(t, "context.json", fmt.Appendf(nil, contextSchema, "string"))
	svc := harness.Start(t, env)

	mint := exec.Command(harness.Binary, "mint", "--sub", "c-42",
		"--session", `{"vip":true,"cart":{"total":12.5},"contact":{"email":"a@shop.example"}}`,
		"--context", `{"msdyn_pageurl":"https://shop.example/cart"}`)
	for k, v := range env {
		mint.Env = append(mint.Env, k+"="+v)
	}
	out, err := mint.Output()
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	tok := strings.TrimSpace(string(out))

	inspect := exec.Command(harness.Binary, "inspect", "--publickey", svc.URL+"/publickey", "--jwks", svc.URL+"/.well-known/jwks.json", tok)
	report, err := inspect.Output()
	if err != nil {
		t.Fatalf("inspect of a minted token: %v\n%s", err, report)
	}
	for _, want := range []string{"PASS  alg", "PASS  signature (" + svc.URL + "/publickey)", "PASS  signature (" + svc.URL + "/.well-known/jwks.json)",
		"PASS  sub           c-42", "PASS  lwicontexts   4 variables: msdyn_cartvalue, msdyn_channel, msdyn_isvip, msdyn_pageurl"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("inspect report lacks %q:\n%s", want, report)
		}
	}

	// Another key's token is refused, with exit status 1.
	other := exec.Command(harness.Binary, "inspect", "--publickey", svc.URL+"/publickey", "-")
	otherEnv, _ := rsaEnv(t, upstream)
	otherMint := exec.Command(harness.Binary, "mint", "--sub", "c-42")
	for k, v := range otherEnv {
		otherMint.Env = append(otherMint.Env, k+"="+v)
	}
	otherTok, err := otherMint.Output()
	if err != nil {
		t.Fatal(err)
	}
	other.Stdin = strings.NewReader(string(otherTok))
	report, _ = other.Output()
	if other.ProcessState.ExitCode() != 1 || !strings.Contains(string(report), "FAIL  signature") {
		t.Errorf("inspect of a token by another key: exit %d\n%s", other.ProcessState.ExitCode(), report)
	}

	// A context the schema refuses is a usage error.
	bad := exec.Command(harness.Binary, "mint", "--sub", "c-42", "--context", `{"msdyn_isvip":true}`)
	bad.Env = mint.Env
	msg, _ := bad.CombinedOutput()
	if bad.ProcessState.ExitCode() != 2 || !strings.Contains(string(msg), "msdyn_isvip") {
		t.Errorf("mint with a refused context: exit %d %q", bad.ProcessState.ExitCode(), msg)
	}
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(harness.Binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "chattoken ") {
		t.Errorf("version: %v %q", err, out)
	}
}

package integration

import (
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

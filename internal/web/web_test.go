package web

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

// client.js finds the token URL beside its own src and exposes both widget
// shapes; sites and the dev-mode page rely on these names.
func TestClientJSContract(t *testing.T) {
	js := string(ClientJS)
	for _, want := range []string{
		"document.currentScript",
		"new URL('token',",
		"api.authTokenProvider = authTokenProvider",
		"api.getAuthToken = getAuthToken",
		"'chattoken:error'",
		"credentials: 'include'",
	} {
		if !strings.Contains(js, want) {
			t.Errorf("client.js does not contain %q", want)
		}
	}
}

func TestJSSyntax(t *testing.T) {
	node := harness.RequireTool(t, "node")
	if out, err := exec.Command(node, "--check", "client.js").CombinedOutput(); err != nil {
		t.Errorf("node --check client.js: %v\n%s", err, out)
	}
}

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoctorUsage: mistakes on doctor's command line exit 2 with a message
// naming them, before anything is asked of the network.
func TestDoctorUsage(t *testing.T) {
	t.Parallel()
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"doctor"}, "give the service's base URL"},
		{[]string{"doctor", "shop.example/chat-auth"}, "BASE_URL must be an http or https URL"},
		{[]string{"doctor", "https://shop.example/chat-auth?token=x"}, "no user info, query or fragment"},
		{[]string{"doctor", "--origin", "https://shop.example/page", "https://shop.example"}, "--origin must be an origin"},
		{[]string{"doctor", "--cacert", filepath.Join(t.TempDir(), "missing.pem"), "https://shop.example"}, "--cacert"},
		{[]string{"doctor", "--cacert", notPEM, "https://shop.example"}, "no PEM certificate"},
		{[]string{"doctor", "https://a.example", "https://b.example"}, "unexpected argument"},
	} {
		err := run(context.Background(), tc.args, envFunc(nil), nil, io.Discard, io.Discard)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v (exit %d); want exit 2 naming %q", tc.args, err, exitCode(err), tc.want)
		}
	}
}

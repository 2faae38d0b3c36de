package httpapi

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/keys"
)

// A key the signing method cannot use makes every signature fail, as a
// broken HSM or libcrypto would once the start-up self-test has passed.
func TestSigningFailuresAreCounted(t *testing.T) {
	t.Parallel()
	doc := jsondoc.Document{"user": map[string]any{"id": "contact-1"}}
	broken := &keys.Set{Signer: keys.SigningKey{Method: jwt.SigningMethodRS256, KID: "broken", Private: []byte("not an RSA key")}}
	for _, tt := range []struct {
		name     string
		set      *keys.Set
		status   int
		failures float64
	}{
		{"a key that cannot sign", broken, http.StatusInternalServerError, 2},
		{"a good key", nil, http.StatusOK, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, signedIn(doc, nil), tt.set)
			for range 2 {
				resp := ts.do(t, http.MethodGet, "/token", "", "")
				_ = readBody(t, resp)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
			}
			var got dto.Metric
			if err := ts.metrics.SigningFailures.Write(&got); err != nil {
				t.Fatal(err)
			}
			if got := got.GetCounter().GetValue(); got != tt.failures {
				t.Errorf("chattoken_signing_failures_total = %v, want %v", got, tt.failures)
			}
		})
	}
}

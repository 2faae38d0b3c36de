package deploy

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// sessionCookie is the session the fake upstream knows.
const sessionCookie = "deploy-test-session"

// newUpstream is the site's "who am I" endpoint, answering for sessionCookie
// with a document whose subject sits at env's CHATTOKEN_SUBJECT_FIELD.
func newUpstream(t *testing.T, env map[string]string) (*harness.SessionUpstream, string) {
	t.Helper()
	field := env["CHATTOKEN_SUBJECT_FIELD"]
	if field == "" {
		field = "sub"
	}
	const subject = "0f8fad5b-d9cb-469f-a165-70867728950e"
	doc := map[string]any{}
	cur := doc
	parts := strings.Split(field, ".")
	for _, p := range parts[:len(parts)-1] {
		next := map[string]any{}
		cur[p] = next
		cur = next
	}
	cur[parts[len(parts)-1]] = subject
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	u := harness.NewSessionUpstream(t)
	u.AddSession(sessionCookie, string(data))
	return u, subject
}

// checkService drives a chattoken started with the Deployment's configuration
// and volumes: every probe path answers 200, a token is minted for a session
// and verifies with the signing key, carrying the issuer and the schema's
// static context variables, and both keys of the Secret are published.
// Paths in env are seen from root (the container's root directory; "" when
// they are host paths already).
func checkService(t *testing.T, k *kube, base string, env map[string]string, root string, keys podKeys, subject string) {
	t.Helper()
	for _, p := range probePaths(t, k) {
		if resp, body := harness.Do(t, http.MethodGet, base+p, "", "", ""); resp.StatusCode != http.StatusOK {
			t.Errorf("probe path %s answers %d, not 200: %s", p, resp.StatusCode, body)
		}
	}
	if resp, _ := harness.Do(t, http.MethodGet, base+"/no-such-route", "", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown path answers %d, not 404: the probe check above would prove nothing", resp.StatusCode)
	}

	resp, body := harness.Do(t, http.MethodGet, base+"/token", sessionCookie, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /token answers %d: %s", resp.StatusCode, body)
	}
	var answer struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(answer.Token, claims, func(*jwt.Token) (any, error) {
		return &keys.signing.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"})); err != nil {
		t.Fatalf("the token does not verify with the signing key (the one sorting last, not .next.pem): %v", err)
	}
	if claims["iss"] != env["CHATTOKEN_ISSUER"] || claims["sub"] != subject {
		t.Errorf("token claims iss=%v sub=%v; want %q and %q", claims["iss"], claims["sub"], env["CHATTOKEN_ISSUER"], subject)
	}
	checkStaticContext(t, env, root, claims)

	resp, body = harness.Do(t, http.MethodGet, base+"/publickey?format=array", "", "", "")
	var published []struct {
		KID string `json:"kid"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &published) != nil || len(published) != 2 {
		t.Errorf("/publickey?format=array answers %d %s; want both keys of the Secret (%s and %s)", resp.StatusCode, body, signingKeyName, nextKeyName)
	}
	resp, body = harness.Do(t, http.MethodGet, base+"/.well-known/jwks.json", "", "", "")
	var jwks struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &jwks) != nil || len(jwks.Keys) != 2 {
		t.Errorf("/.well-known/jwks.json answers %d %s; want 2 keys", resp.StatusCode, body)
	}
}

// checkStaticContext checks that the token's lwicontexts carries every static
// variable of the schema in CHATTOKEN_CONTEXT_FILE, proving the schema was
// read from the ConfigMap volume.
func checkStaticContext(t *testing.T, env map[string]string, root string, claims jwt.MapClaims) {
	t.Helper()
	schemaPath := env["CHATTOKEN_CONTEXT_FILE"]
	if schemaPath == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join(root, schemaPath))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Variables map[string]struct {
			Source string `json:"source"`
		} `json:"variables"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("the context schema is not JSON: %v", err)
	}
	raw, _ := claims["lwicontexts"].(string)
	contexts := map[string]any{}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &contexts); err != nil {
			t.Fatalf("lwicontexts %q: %v", raw, err)
		}
	}
	for name, v := range schema.Variables {
		if _, ok := contexts[name]; v.Source == "static" && !ok {
			t.Errorf("lwicontexts %q lacks the schema's static variable %s", raw, name)
		}
	}
}

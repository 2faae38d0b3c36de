package integration

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// The suites run against the default build (pure Go) and, under
// `make test-openssl` (CHATTOKEN_TEST_TAGS=openssl), against the OpenSSL
// build. These tests check which binary they got and that its tokens are
// the very bytes the other build would mint.

func TestBinaryIsTheBuildUnderTest(t *testing.T) {
	t.Parallel()
	info, err := buildinfo.ReadFile(harness.Binary)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	wantTags := os.Getenv("CHATTOKEN_TEST_TAGS")
	if settings["-tags"] != wantTags {
		t.Errorf("binary built with tags %q, want %q (CHATTOKEN_TEST_TAGS)", settings["-tags"], wantTags)
	}
	f, err := elf.Open(harness.Binary)
	if err != nil {
		t.Skipf("not an ELF binary: %v", err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	linksLibcrypto := slices.ContainsFunc(libs, func(l string) bool { return strings.HasPrefix(l, "libcrypto.so") })
	openssl := slices.Contains(strings.Split(wantTags, ","), "openssl")
	switch {
	case openssl && (settings["CGO_ENABLED"] != "1" || !linksLibcrypto):
		t.Errorf("the OpenSSL build has CGO_ENABLED=%q and links %v, want cgo and libcrypto", settings["CGO_ENABLED"], libs)
	case !openssl && linksLibcrypto:
		t.Errorf("the default build links %v", libs)
	}
}

// TestTokensAreTheSameInBothBuilds: the binary's RS256 signature (OpenSSL's
// in the OpenSSL build) is byte for byte golang-jwt's pure-Go signature of
// the same header and payload with the same key, and verifies with it.
func TestTokensAreTheSameInBothBuilds(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"contact":{"id":"c-ann","email":"ann@shop.example","first_name":"Ann"}}`)
	env, key := rsaEnv(t, upstream)
	env["CHATTOKEN_TOKEN_REUSE"] = "false"
	svc := harness.Start(t, env)

	for i := range 3 {
		resp, body := harness.Do(t, http.MethodGet, svc.URL+"/token", "ann", "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/token: %d %s", resp.StatusCode, body)
		}
		var answer struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			t.Fatal(err)
		}
		dot := strings.LastIndexByte(answer.Token, '.')
		input, sig := answer.Token[:dot], answer.Token[dot+1:]
		got, err := base64.RawURLEncoding.DecodeString(sig)
		if err != nil {
			t.Fatalf("signature %q is not base64url: %v", sig, err)
		}
		want, err := jwt.SigningMethodRS256.Sign(input, key)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("token %d: the binary's signature differs from golang-jwt's for the same input and key", i)
		}
		if _, err := jwt.Parse(answer.Token, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"})); err != nil {
			t.Errorf("token %d does not verify with golang-jwt: %v", i, err)
		}
	}
}

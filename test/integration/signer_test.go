package integration

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/test/harness"
)

// The suites run against the default build (pure Go); `make test-openssl`
// (CHATTOKEN_TEST_TAGS=openssl) runs the binary test below and one
// end-to-end token test against the OpenSSL build. These tests check which
// binary they got and that both builds mint the same tokens.

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
		harness.MissingTool(t, "an ELF binary (Linux)", err.Error())
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

// TestTokensAreTheSameInBothBuilds builds the other binary (the OpenSSL
// build next to the default one, or the default next to the OpenSSL one),
// mints with `chattoken mint` in each from the same key, configuration and
// session, and compares: the same header bytes, the same claims but for the
// four a token draws from the clock and crypto/rand (jti, iat, nbf, exp),
// and each signature the very bytes the default build's pure-Go RS256
// (golang-jwt's) makes of that token's signing input with that key (PKCS#1
// v1.5 is deterministic), so an OpenSSL signer that differs in any way
// fails here. Where libcrypto's headers are missing the OpenSSL build
// cannot be made: skipped, failing under CI=true.
func TestTokensAreTheSameInBothBuilds(t *testing.T) {
	t.Parallel()
	tags := os.Getenv("CHATTOKEN_TEST_TAGS")
	builds := map[string]string{"default": harness.Binary}
	if tags == "" {
		if err := exec.Command("pkg-config", "--exists", "libcrypto").Run(); err != nil {
			harness.MissingTool(t, "libcrypto's headers (Debian: libssl-dev, pkg-config)", "needed to build the OpenSSL binary")
		}
		builds["openssl"] = harness.Build(t, "openssl")
	} else {
		builds["openssl"], builds["default"] = harness.Binary, harness.Build(t, "")
	}
	upstream := harness.NewSessionUpstream(t)
	env, key := rsaEnv(t, upstream)

	tokens := map[string][3]string{}
	for name, binary := range builds {
		mint := exec.Command(binary, "mint", "--sub", "c-ann",
			"--session", `{"contact":{"email":"ann@shop.example","first_name":"Ann"}}`)
		for k, v := range env {
			mint.Env = append(mint.Env, k+"="+v)
		}
		out, err := mint.Output()
		if err != nil {
			t.Fatalf("%s build: mint: %v", name, err)
		}
		raw := strings.TrimSpace(string(out))
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("%s build minted %q, not a JWS", name, raw)
		}
		tokens[name] = [3]string(parts)

		got, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			t.Fatalf("%s build: signature %q is not base64url: %v", name, parts[2], err)
		}
		want, err := jwt.SigningMethodRS256.Sign(parts[0]+"."+parts[1], key)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s build: the signature differs from the pure-Go RS256 signature of the same input with the same key", name)
		}
		if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"})); err != nil {
			t.Errorf("%s build: the token does not verify with golang-jwt: %v", name, err)
		}
	}

	def, ossl := tokens["default"], tokens["openssl"]
	if def[0] != ossl[0] {
		t.Errorf("the headers differ: %s (default) and %s (openssl)", def[0], ossl[0])
	}
	claims := func(name, segment string) map[string]any {
		data, err := base64.RawURLEncoding.DecodeString(segment)
		var c map[string]any
		if err == nil {
			err = json.Unmarshal(data, &c)
		}
		if err != nil {
			t.Fatalf("%s build: the payload is not base64url JSON: %v", name, err)
		}
		if c["exp"].(float64)-c["iat"].(float64) != 600 || c["iat"].(float64)-c["nbf"].(float64) != 45 {
			t.Errorf("%s build: iat %v, nbf %v, exp %v: not the configured lifetime and skew", name, c["iat"], c["nbf"], c["exp"])
		}
		for _, k := range []string{"jti", "iat", "nbf", "exp"} {
			delete(c, k)
		}
		return c
	}
	if a, b := claims("default", def[1]), claims("openssl", ossl[1]); !reflect.DeepEqual(a, b) {
		t.Errorf("the claims differ: %v (default) and %v (openssl)", a, b)
	}
}

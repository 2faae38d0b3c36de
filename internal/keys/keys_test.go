package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/testkeys"
)

func testKey() *rsa.PrivateKey { return testkeys.RSA(0) }

func TestThumbprintRFC7638Example(t *testing.T) {
	t.Parallel()
	// The example key of RFC 7638 §3.1 and the thumbprint it gives.
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	if got, want := Thumbprint(pub), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("Thumbprint = %q, want %q", got, want)
	}
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestLoadRSA(t *testing.T) {
	t.Parallel()
	key := testKey()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"PKCS#1": pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)),
		"PKCS#8": pemOf("PRIVATE KEY", pkcs8),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			set, err := Load(writeFile(t, data), "RS256", Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if set.Signer.Method.Alg() != "RS256" || set.Signer.KID != Thumbprint(&key.PublicKey) {
				t.Errorf("signer %s kid %q", set.Signer.Method.Alg(), set.Signer.KID)
			}
			checkPublishedPEM(t, set, &key.PublicKey)
			checkPublishedJWKS(t, set, &key.PublicKey)
		})
	}
}

func checkPublishedPEM(t *testing.T, set *Set, want *rsa.PublicKey) {
	t.Helper()
	block, rest := pem.Decode(set.Published.PEM)
	if block == nil || block.Type != "PUBLIC KEY" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("published PEM is not one PUBLIC KEY block: %q", set.Published.PEM)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !want.Equal(pub) {
		t.Error("published PEM holds another key")
	}
}

func checkPublishedJWKS(t *testing.T, set *Set, want *rsa.PublicKey) {
	t.Helper()
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(set.Published.JWKS, &jwks); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) != 1 {
		t.Fatalf("JWKS has %d keys", len(jwks.Keys))
	}
	k := jwks.Keys[0]
	n, _ := base64.RawURLEncoding.DecodeString(k["n"])
	e, _ := base64.RawURLEncoding.DecodeString(k["e"])
	got := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if !want.Equal(got) {
		t.Error("JWKS n/e describe another key")
	}
	for field, v := range map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": Thumbprint(want)} {
		if k[field] != v {
			t.Errorf("JWKS %s = %q, want %q", field, k[field], v)
		}
	}
	// A relying party's JWKS library reads the set and finds the key that
	// verifies a token by its kid.
	kf, err := keyfunc.NewJWKSetJSON(set.Published.JWKS)
	if err != nil {
		t.Fatalf("keyfunc cannot read the JWKS: %v", err)
	}
	tok := jwt.New(jwt.SigningMethodRS256)
	tok.Header["kid"] = set.Signer.KID
	raw, err := tok.SignedString(set.Signer.Private)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(raw, kf.Keyfunc, jwt.WithValidMethods([]string{"RS256"})); err != nil {
		t.Errorf("a token of the key does not verify through the JWKS: %v", err)
	}
}

func TestLoadRefusals(t *testing.T) {
	t.Parallel()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	pubDER, _ := x509.MarshalPKIXPublicKey(&testKey().PublicKey)
	tests := []struct {
		name string
		alg  string
		data []byte
		want string
	}{
		{"not PEM", "RS256", []byte("hello"), "no PEM block"},
		{"public key only", "RS256", pemOf("PUBLIC KEY", pubDER), "not a private key"},
		{"RSA under 2048 bits", "RS256", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), "1024 bits"},
		{"EC key", "RS256", pemOf("PRIVATE KEY", ecDER), "not an RSA key"},
		{"corrupt PKCS#1", "RS256", pemOf("RSA PRIVATE KEY", []byte("junk")), "PKCS#1"},
		{"unknown block", "RS256", pemOf("OPENSSH PRIVATE KEY", []byte("junk")), "unexpected PEM block"},
		{"short secret", "HS256", []byte(strings.Repeat("s", 31) + "\n"), "31 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(writeFile(t, tt.data), tt.alg, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		if _, err := Load(filepath.Join(t.TempDir(), "absent.pem"), "RS256", Options{}); !os.IsNotExist(err) {
			t.Fatalf("Load error = %v, want not-exist", err)
		}
	})
}

func TestLoadHMACSecret(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 32)
	for name, data := range map[string]string{
		"no newline":               secret,
		"one newline":              secret + "\n",
		"one CRLF":                 secret + "\r\n",
		"only one newline ignored": secret[:31] + "\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			set, err := Load(writeFile(t, []byte(data)), "HS256", Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := strings.TrimSuffix(strings.TrimSuffix(data, "\n"), "\r")
			if got := string(set.Signer.Private.([]byte)); got != want {
				t.Errorf("secret = %q, want %q", got, want)
			}
			if set.Signer.KID != "" || set.Published.PEM != nil || set.Published.JWKS != nil || set.Published.Array != nil {
				t.Error("an HMAC secret must publish nothing")
			}
		})
	}
}

func TestGenerateAndWrite(t *testing.T) {
	t.Parallel()
	if _, err := GenerateRSA(1024); err == nil {
		t.Error("GenerateRSA(1024) succeeded; want a refusal")
	}
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 16, 45, 0, 0, time.UTC)
	path, err := WriteRSA(dir, testKey(), now, false)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "20261123T164500Z.pem" {
		t.Errorf("file name %s", filepath.Base(path))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	set, err := Load(path, "RS256", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Signer.KID != Thumbprint(&testKey().PublicKey) {
		t.Error("the written key does not load back as the same key")
	}
	if _, err := WriteRSA(dir, testKey(), now, false); err == nil {
		t.Error("WriteRSA overwrote an existing file")
	}
	if next, err := WriteRSA(dir, testKey(), now, true); err != nil || filepath.Base(next) != "20261123T164500Z.next.pem" {
		t.Errorf("WriteRSA next = %q, %v", next, err)
	}
}

package keys

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// These tests run in both builds (`go test` and `go test -tags openssl`):
// whichever signs RS256, its signatures verify with crypto/rsa and are the
// bytes crypto/rsa itself produces (RSASSA-PKCS1-v1_5 is deterministic), so
// the two builds mint identical tokens for the same input.

func signingInput(i int) string {
	return "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." +
		base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"sub":"s-%d","jti":"%s"}`, i, strings.Repeat("j", i%97)))
}

func TestRS256SignerVerifiesWithCryptoRSA(t *testing.T) {
	t.Parallel()
	key := testKey()
	set, err := NewRSASet(key)
	if err != nil {
		t.Fatal(err)
	}
	m := set.Signer.Method
	if m.Alg() != "RS256" {
		t.Fatalf("Alg() = %q", m.Alg())
	}
	if set.Signer.Private != key || set.Signer.Public != &key.PublicKey {
		t.Fatal("the RSA set does not hold the key itself as Private and its public half as Public")
	}
	for i, input := range []string{"", "a", signingInput(1), signingInput(96), strings.Repeat("x", 1<<16)} {
		sig, err := m.Sign(input, set.Signer.Private)
		if err != nil {
			t.Fatalf("%s signer: %v", RS256Signer, err)
		}
		digest := sha256.Sum256([]byte(input))
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
			t.Errorf("input %d: the %s signature does not verify with crypto/rsa: %v", i, RS256Signer, err)
		}
		want, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		if string(sig) != string(want) {
			t.Errorf("input %d: the %s signature differs from crypto/rsa's", i, RS256Signer)
		}
		if err := m.Verify(input, sig, set.Signer.Public); err != nil {
			t.Errorf("input %d: Verify: %v", i, err)
		}
		tampered := append([]byte(nil), sig...)
		tampered[len(tampered)-1] ^= 1
		if err := m.Verify(input, tampered, set.Signer.Public); err == nil {
			t.Errorf("input %d: Verify accepted a tampered signature", i)
		}
	}
}

// TestRS256SignerMatchesGolangJWT checks signatures against golang-jwt's
// pure-Go RS256 in both directions, for every key size keygen offers and for
// keys loaded from files in both PEM forms.
func TestRS256SignerMatchesGolangJWT(t *testing.T) {
	t.Parallel()
	var sets []*Set
	for _, bits := range AllowedBits {
		key := testKey()
		if bits != key.N.BitLen() {
			var err error
			if key, err = GenerateRSA(bits); err != nil {
				t.Fatal(err)
			}
		}
		set, err := NewRSASet(key)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, set)
	}
	dir := t.TempDir()
	writeKey(t, dir, "pkcs8.pem", keyPool()[1], 0o600)
	set, err := Load(dir, "RS256", Options{})
	if err != nil {
		t.Fatal(err)
	}
	sets = append(sets, set)
	set, err = Load(writeFile(t, pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(keyPool()[2]))), "RS256", Options{})
	if err != nil {
		t.Fatal(err)
	}
	sets = append(sets, set)

	for _, set := range sets {
		key := set.Signer.Private.(*rsa.PrivateKey)
		t.Run(fmt.Sprintf("%d bits %s", key.N.BitLen(), set.Signer.KID[:8]), func(t *testing.T) {
			input := signingInput(key.N.BitLen())
			ours, err := set.Signer.Method.Sign(input, set.Signer.Private)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := jwt.SigningMethodRS256.Sign(input, key)
			if err != nil {
				t.Fatal(err)
			}
			if string(ours) != string(theirs) {
				t.Fatalf("the %s signer and golang-jwt sign the same input differently", RS256Signer)
			}
			if err := jwt.SigningMethodRS256.Verify(input, ours, set.Signer.Public); err != nil {
				t.Errorf("golang-jwt rejects the %s signature: %v", RS256Signer, err)
			}
			if err := set.Signer.Method.Verify(input, theirs, set.Signer.Public); err != nil {
				t.Errorf("the %s method rejects golang-jwt's signature: %v", RS256Signer, err)
			}
			// A whole token, parsed by golang-jwt.
			token := input + "." + base64.RawURLEncoding.EncodeToString(ours)
			if _, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return set.Signer.Public, nil },
				jwt.WithValidMethods([]string{"RS256"})); err != nil {
				t.Errorf("golang-jwt does not parse the token: %v", err)
			}
		})
	}
}

// TestRS256SignerOtherKey: the method signs correctly with whatever RSA key
// it is given, not only its own, and refuses what is not an RSA key.
func TestRS256SignerOtherKey(t *testing.T) {
	t.Parallel()
	set, err := NewRSASet(testKey())
	if err != nil {
		t.Fatal(err)
	}
	other := keyPool()[3]
	input := signingInput(3)
	sig, err := set.Signer.Method.Sign(input, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := jwt.SigningMethodRS256.Verify(input, sig, &other.PublicKey); err != nil {
		t.Errorf("signed with another key, the signature does not verify with it: %v", err)
	}
	for _, bad := range []any{nil, []byte("secret"), &other.PublicKey} {
		if _, err := set.Signer.Method.Sign(input, bad); err == nil {
			t.Errorf("signing with %T succeeded", bad)
		}
	}
}

// TestRS256SignerConcurrent signs from many goroutines at once with one
// key, as concurrent /token requests do (run it with -race).
func TestRS256SignerConcurrent(t *testing.T) {
	t.Parallel()
	key := keyPool()[0]
	set, err := NewRSASet(key)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 8
	want := make([][]byte, workers*each)
	for i := range want {
		if want[i], err = jwt.SigningMethodRS256.Sign(signingInput(i), key); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for j := range each {
				i := w*each + j
				sig, err := set.Signer.Method.Sign(signingInput(i), set.Signer.Private)
				if err != nil {
					errs <- err
					return
				}
				if string(sig) != string(want[i]) {
					errs <- fmt.Errorf("signature %d differs", i)
					return
				}
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

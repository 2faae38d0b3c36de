package token

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chattoken/chattoken/internal/keys"
)

// BenchmarkRawRSASign is the reference the service is measured against:
// crypto/rsa's PKCS#1 v1.5 signature of a SHA-256 digest, nothing else.
func BenchmarkRawRSASign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	key.Precompute()
	digest := sha256.Sum256([]byte("header.payload"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMinter(b *testing.B, set *keys.Set, reuse bool) *Minter {
	m := &Minter{Issuer: "https://shop.example", TTL: 15 * time.Minute, ClockSkew: 30 * time.Second,
		Keys: func() *keys.Set { return set }, Now: time.Now}
	if reuse {
		m.Reuse = NewReuse(10_000, m.TTL)
	}
	return m
}

func BenchmarkMint(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	rs, _ := keys.NewRSASet(key)
	hs, _ := keys.NewHMACSet([]byte(strings.Repeat("s", 32)))
	req := Request{
		Subject:  "0f8fad5b-d9cb-469f-a165-70867728950e",
		Identity: map[string]any{"email": "ann@shop.example", "given_name": "Ann"},
		Context:  `{"msdyn_cartvalue":"10000","msdyn_channel":"web","msdyn_isvip":"false"}`,
	}
	for _, tc := range []struct {
		name  string
		set   *keys.Set
		reuse bool
	}{{"RS256", rs, false}, {"HS256", hs, false}, {"RS256-reused", rs, true}} {
		b.Run(tc.name, func(b *testing.B) {
			m := benchMinter(b, tc.set, tc.reuse)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := req
				if !tc.reuse {
					// A new subject each time, as a new session would be.
					r.Subject = req.Subject + strconv.Itoa(i)
					i++
				}
				if _, err := m.Mint(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

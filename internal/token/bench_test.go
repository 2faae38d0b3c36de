package token

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/testkeys"
)

// BenchmarkRawRSASign is the reference the service is measured against:
// crypto/rsa's PKCS#1 v1.5 signature of a SHA-256 digest, nothing else.
func BenchmarkRawRSASign(b *testing.B) {
	key := testkeys.RSA(0) // precomputed, as a key loaded from a file is
	digest := sha256.Sum256([]byte("header.payload"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignerRS256 is the RS256 signing method of the build in use
// (keys.RS256Signer: crypto/rsa by default, libcrypto with -tags openssl)
// on a token-sized signing input, as Mint calls it. Pinned to one core it
// compares with `openssl speed rsa2048` (the OpenSSL signer's target):
//
//	taskset -c 0 openssl speed -seconds 3 rsa2048
//	taskset -c 0 go test -tags openssl -run '^$' -bench BenchmarkSignerRS256 -benchtime 3s ./internal/token
//
// `openssl speed` counts the CPU time it got, a benchmark the time that
// passed: compare them on an otherwise idle core.
func BenchmarkSignerRS256(b *testing.B) {
	method, private, input := benchSigner(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := method.Sign(input, private); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}

// BenchmarkParallelSignerRS256 signs from GOMAXPROCS goroutines at once, the
// way concurrent /token requests do: the per-core rate should not drop.
func BenchmarkParallelSignerRS256(b *testing.B) {
	method, private, input := benchSigner(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := method.Sign(input, private); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}

func benchSigner(b *testing.B) (jwt.SigningMethod, any, string) {
	b.Helper()
	set, err := keys.NewRSASet(testkeys.RSA(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("RS256 signer: %s", keys.RS256Signer)
	payload := `{"sub":"0f8fad5b-d9cb-469f-a165-70867728950e","iss":"https://shop.example","iat":1795000000,` +
		`"nbf":1794999970,"exp":1795000900,"jti":"3q2-7wAAAAAAAAAAAAAAAA","email":"ann@shop.example",` +
		`"given_name":"Ann","lwicontexts":"{\"msdyn_cartvalue\":\"10000\",\"msdyn_channel\":\"web\"}"}`
	input := encodeHeader(set.Signer) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return set.Signer.Method, set.Signer.Private, input
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
	rs, _ := keys.NewRSASet(testkeys.RSA(0))
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

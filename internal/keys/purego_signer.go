//go:build !openssl

package keys

import (
	"crypto/rsa"

	"github.com/golang-jwt/jwt/v5"
)

// RS256Signer names the RS256 implementation of this build, for logs and
// benchmarks: the default build signs with crypto/rsa (pure Go, no cgo).
// `go build -tags openssl` signs with the system's libcrypto instead
// (openssl_signer.go).
const RS256Signer = "go"

// rs256Method returns the method that signs RS256 tokens with key, which
// SigningKey.Private then holds unchanged.
func rs256Method(*rsa.PrivateKey) (jwt.SigningMethod, error) {
	return jwt.SigningMethodRS256, nil
}

// Package keys loads the signing key and precomputes everything that is
// published about it: the PEM that Omnichannel's "public key URL" expects and
// the JWKS. Nothing here is parsed or encoded per request.
package keys

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// Limits on key material.
const (
	MinRSABits      = 2048
	MinSecretLength = 32
)

// SigningKey is the key that signs tokens, with what a verifier of this
// service's own tokens needs.
type SigningKey struct {
	Method jwt.SigningMethod
	// KID is the RFC 7638 thumbprint for an RSA key and empty for HMAC,
	// whose secret must never be described publicly.
	KID string
	// Private is an *rsa.PrivateKey or the HMAC secret as []byte.
	Private any
	// Public verifies what Private signed: an *rsa.PublicKey or the secret.
	Public any
}

// Published is what the service tells the world about its keys, encoded
// once. Its fields are nil when there is nothing public to say (HMAC).
type Published struct {
	PEM  Body
	JWKS Body
}

// Body is a response body with its entity tag.
type Body struct {
	Data []byte
	ETag string
}

// NewBody returns data with a strong ETag derived from its content.
func NewBody(data []byte) Body {
	sum := sha256.Sum256(data)
	return Body{Data: data, ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
}

// Set is the key material the service uses: the signing key and its
// published forms. A Set is never modified after Load returns it.
type Set struct {
	Signer    SigningKey
	Published Published
}

// Load reads the key file for alg ("RS256" or "HS256").
func Load(path, alg string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The *PathError says which file and why, and never its contents.
		return nil, err
	}
	switch alg {
	case "RS256":
		key, err := ParseRSAPrivateKey(data)
		if err != nil {
			return nil, err
		}
		return NewRSASet(key)
	case "HS256":
		return NewHMACSet(data)
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
}

// ParseRSAPrivateKey reads one PEM block holding an RSA private key, PKCS#1
// or PKCS#8, of at least MinRSABits bits.
func ParseRSAPrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found: expected an RSA private key")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a valid PKCS#1 RSA private key: %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a valid PKCS#8 private key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the PKCS#8 key is a %T, not an RSA key", k)
		}
		key = rk
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, fmt.Errorf("the file holds a %s, not a private key", block.Type)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q: expected an RSA private key", block.Type)
	}
	if bits := key.N.BitLen(); bits < MinRSABits {
		return nil, fmt.Errorf("the RSA key has %d bits; at least %d are required", bits, MinRSABits)
	}
	key.Precompute()
	return key, nil
}

// NewRSASet returns the Set for an RS256 key, with its PEM and JWKS encoded.
func NewRSASet(key *rsa.PrivateKey) (*Set, error) {
	pub := &key.PublicKey
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	kid := Thumbprint(pub)
	jwks, err := json.Marshal(jwkSet{Keys: []jwk{{
		Kty: "RSA",
		Kid: kid,
		Use: "sig",
		Alg: "RS256",
		N:   b64(pub.N.Bytes()),
		E:   b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	if err != nil {
		return nil, fmt.Errorf("encoding the JWKS: %w", err)
	}
	return &Set{
		Signer: SigningKey{Method: jwt.SigningMethodRS256, KID: kid, Private: key, Public: pub},
		Published: Published{
			PEM:  NewBody(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
			JWKS: NewBody(jwks),
		},
	}, nil
}

// NewHMACSet returns the Set for an HS256 secret. One trailing newline is
// ignored, since editors and `echo` add one.
func NewHMACSet(secret []byte) (*Set, error) {
	secret = bytes.TrimSuffix(secret, []byte("\n"))
	secret = bytes.TrimSuffix(secret, []byte("\r"))
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("the HS256 secret has %d bytes; at least %d are required", len(secret), MinSecretLength)
	}
	secret = bytes.Clone(secret)
	return &Set{Signer: SigningKey{Method: jwt.SigningMethodHS256, Private: secret, Public: secret}}, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of an RSA public key (SHA-256,
// base64url): a kid that any party can recompute from the key alone.
func Thumbprint(pub *rsa.PublicKey) string {
	// RFC 7638 §3.2: the required members only, in lexicographic order,
	// without whitespace.
	canonical := `{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// Package keys loads the signing key and encodes, once per key set,
// everything that is published about it: the PEM that Omnichannel's "public
// key URL" expects, its multi-key array and the JWKS. Nothing here is parsed
// or encoded per request.
package keys

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
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
	// Method signs with Private. For RS256 it is jwt.SigningMethodRS256 in
	// the default build and an OpenSSL signer bound to Private in the
	// OpenSSL build (RS256Signer); both produce the same bytes.
	Method jwt.SigningMethod
	// KID is the RFC 7638 thumbprint for an RSA key and empty for HMAC,
	// whose secret must never be described publicly.
	KID string
	// Private is an *rsa.PrivateKey or the HMAC secret as []byte.
	Private any
	// Public verifies what Private signed: an *rsa.PublicKey or the secret.
	Public any
	// lastUsed holds the Unix time the key last signed, shared across
	// reloads so that removing a key still in use can be warned about.
	lastUsed *atomic.Int64
}

// MarkUsed records that the key signed a token at now.
func (k SigningKey) MarkUsed(now time.Time) {
	if k.lastUsed != nil {
		k.lastUsed.Store(now.Unix())
	}
}

// PublishedKey is one RSA public key the service publishes.
type PublishedKey struct {
	KID    string
	Public *rsa.PublicKey
	// PEM is the SPKI "PUBLIC KEY" block.
	PEM []byte
	// File is the key's file name; Next marks a ".next.pem" file, published
	// ahead of signing.
	File string
	Next bool
}

// Published is what the service tells the world about its keys, encoded
// once per key set. Its bodies are nil when there is nothing public to say
// (HMAC).
type Published struct {
	// PEM is the signing key alone, as one PEM block.
	PEM []byte
	// Array is Omnichannel's multi-key format: a JSON array of
	// {"kid", "publicKey": base64 of the PEM, "expiry": Unix seconds}.
	Array []byte
	// JWKS lists every published key.
	JWKS []byte
	// Several is true when more than one key is published, which makes
	// Array the default answer of the public key URL.
	Several bool
}

// The key array's expiry lies ArrayExpiry after its body is built, and
// bodies are rebuilt every RebuildEvery (noticed by a check every few
// seconds), so a published expiry is always more than a day away.
const (
	ArrayExpiry  = 25*time.Hour + time.Minute
	RebuildEvery = time.Hour
)

// Set is the key material the service uses: the signing key, the published
// keys and their encoded forms. A Set is never modified once built.
type Set struct {
	Signer    SigningKey
	Keys      []PublishedKey
	Published Published
	// BuiltAt is when Published was encoded.
	BuiltAt time.Time
	// SignerWritten is when the signing key's file was last written: the
	// age operators watch to know when to rotate. Zero when unknown.
	SignerWritten time.Time
}

// NewRSASet returns the Set for one RS256 key that signs and is published.
func NewRSASet(key *rsa.PrivateKey) (*Set, error) {
	pub, err := newPublishedKey(&key.PublicKey, "", false)
	if err != nil {
		return nil, err
	}
	return newRSASet(key, []PublishedKey{pub}, time.Now(), nil)
}

func newPublishedKey(pub *rsa.PublicKey, file string, next bool) (PublishedKey, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return PublishedKey{}, fmt.Errorf("encoding the public key: %w", err)
	}
	return PublishedKey{
		KID:    Thumbprint(pub),
		Public: pub,
		PEM:    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		File:   file,
		Next:   next,
	}, nil
}

// newRSASet encodes the published bodies for signer and published (which
// includes the signer's own public key) as of now.
func newRSASet(signer *rsa.PrivateKey, published []PublishedKey, now time.Time, lastUsed *atomic.Int64) (*Set, error) {
	if lastUsed == nil {
		lastUsed = new(atomic.Int64)
	}
	// The signing method is made once per key: the OpenSSL build hands the
	// key to libcrypto here, never per token.
	method, err := rs256Method(signer)
	if err != nil {
		return nil, err
	}
	set := &Set{
		Signer: SigningKey{
			Method: method, KID: Thumbprint(&signer.PublicKey),
			Private: signer, Public: &signer.PublicKey, lastUsed: lastUsed,
		},
		Keys:    published,
		BuiltAt: now,
	}
	if err := set.encode(); err != nil {
		return nil, err
	}
	return set, nil
}

// Expiry is the expiry the key array gives every key it publishes.
func (s *Set) Expiry() time.Time { return s.BuiltAt.Add(ArrayExpiry) }

// encode builds the published bodies from the keys.
func (s *Set) encode() error {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.Keys))}
	array := make([]omnichannelKey, 0, len(s.Keys))
	expiry := s.Expiry().Unix()
	for _, k := range s.Keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public, KeyID: k.KID, Use: "sig", Algorithm: "RS256"})
		array = append(array, omnichannelKey{
			KID: k.KID, PublicKey: base64.StdEncoding.EncodeToString(k.PEM), Expiry: expiry,
		})
		if k.KID == s.Signer.KID {
			s.Published.PEM = k.PEM
		}
	}
	if s.Published.PEM == nil {
		return errors.New("the signing key is not among the published keys")
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encoding the JWKS: %w", err)
	}
	arrayData, err := json.Marshal(array)
	if err != nil {
		return fmt.Errorf("encoding the key array: %w", err)
	}
	s.Published.JWKS = jwks
	s.Published.Array = arrayData
	s.Published.Several = len(s.Keys) > 1
	return nil
}

// Rebuilt returns a copy of s whose published bodies are encoded as of now,
// so that the key array's expiry moves forward. An HMAC set is returned as
// is.
func (s *Set) Rebuilt(now time.Time) (*Set, error) {
	if len(s.Keys) == 0 {
		return s, nil
	}
	c := &Set{Signer: s.Signer, Keys: s.Keys, BuiltAt: now, SignerWritten: s.SignerWritten}
	if err := c.encode(); err != nil {
		return nil, err
	}
	return c, nil
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
	return &Set{
		Signer:  SigningKey{Method: jwt.SigningMethodHS256, Private: secret, Public: secret, lastUsed: new(atomic.Int64)},
		BuiltAt: time.Now(),
	}, nil
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

// Thumbprint is the RFC 7638 JWK thumbprint of an RSA public key (SHA-256,
// base64url): a kid that any party can recompute from the key alone.
func Thumbprint(pub *rsa.PublicKey) string {
	// go-jose fails only for a key type it does not know; an RSA public
	// key is one it knows.
	sum, _ := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	return base64.RawURLEncoding.EncodeToString(sum)
}

// omnichannelKey is one entry of Omnichannel's multi-key public key format.
type omnichannelKey struct {
	KID       string `json:"kid"`
	PublicKey string `json:"publicKey"`
	Expiry    int64  `json:"expiry"`
}

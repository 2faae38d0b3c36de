// Package testkeys hands tests RSA keys: generating 2048-bit keys is the
// slowest thing many tests would otherwise do, so a key a test only needs
// to be some key is generated once per test binary. It is for tests only;
// no key here is ever written to the repository.
package testkeys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
)

var (
	mu   sync.Mutex
	pool = map[int]*rsa.PrivateKey{}
)

// RSA returns the i-th 2048-bit test key: the same key for the same i
// within one test binary, a different key for each i.
func RSA(i int) *rsa.PrivateKey {
	mu.Lock()
	defer mu.Unlock()
	if k, ok := pool[i]; ok {
		return k
	}
	k := New()
	pool[i] = k
	return k
}

// New returns a 2048-bit key that no other call returns, for a test that
// needs a key of its own: a second signer, an attacker's key.
func New() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		// crypto/rand does not fail; a test cannot go on without a key.
		panic(err)
	}
	k.Precompute()
	return k
}

// PEM returns key as `chattoken keygen` writes it: an unencrypted PKCS#8
// "PRIVATE KEY" block.
func PEM(key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		// An RSA key always marshals.
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

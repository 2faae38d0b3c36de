// Package testkeys hands tests RSA keys generated once per test binary:
// generating 2048-bit keys is the slowest thing many tests would otherwise
// do. It is for tests only; no key here is ever written to the repository.
package testkeys

import (
	"crypto/rand"
	"crypto/rsa"
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
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		// crypto/rand does not fail; a test cannot go on without a key.
		panic(err)
	}
	k.Precompute()
	pool[i] = k
	return k
}

//go:build openssl

package keys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/keys/internal/cmalloc"
	"github.com/chattoken/chattoken/test/harness"
)

// TestOpenSSLSignerInUse: under -tags openssl an RSA set really signs with
// libcrypto, made once per key, and an HMAC set is untouched.
func TestOpenSSLSignerInUse(t *testing.T) {
	t.Parallel()
	if RS256Signer != "openssl" {
		t.Fatalf("RS256Signer = %q", RS256Signer)
	}
	set, err := NewRSASet(testKey())
	if err != nil {
		t.Fatal(err)
	}
	m, ok := set.Signer.Method.(*opensslRS256)
	if !ok {
		t.Fatalf("the RSA set signs with %T", set.Signer.Method)
	}
	if m.size != 256 || m.private != testKey() {
		t.Errorf("method for a %d-byte signature of %p, want 256 and %p", m.size, m.private, testKey())
	}
	rebuilt, err := set.Rebuilt(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rebuilt.Signer.Method != set.Signer.Method {
		t.Error("rebuilding the published bodies made a new OpenSSL key")
	}
	hs, err := NewHMACSet([]byte(strings.Repeat("s", MinSecretLength)))
	if err != nil {
		t.Fatal(err)
	}
	if hs.Signer.Method != jwt.SigningMethodHS256 {
		t.Errorf("the HMAC set signs with %T", hs.Signer.Method)
	}
}

// TestOpenSSLErrors: what OpenSSL refuses comes back as a Go error carrying
// OpenSSL's own message.
func TestOpenSSLErrors(t *testing.T) {
	t.Parallel()
	for name, der := range map[string][]byte{
		"empty":    nil,
		"junk":     []byte("not a key at all"),
		"trailing": append(x509.MarshalPKCS1PrivateKey(testKey()), 0, 0),
		"public":   x509.MarshalPKCS1PublicKey(&testKey().PublicKey),
	} {
		if _, err := newOpenSSLRS256(der, nil); err == nil || !strings.HasPrefix(err.Error(), "OpenSSL: ") {
			t.Errorf("%s: err = %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestOpenSSLSignError: a signature OpenSSL refuses to make is a Go error
// with OpenSSL's reason, and nothing is written past the buffer.
func TestOpenSSLSignError(t *testing.T) {
	t.Parallel()
	key := testKey()
	method, err := rs256Method(key)
	if err != nil {
		t.Fatal(err)
	}
	short := *method.(*opensslRS256) // the same EVP_PKEY, a 16-byte buffer
	short.size = 16
	_, err = short.Sign(signingInput(5), key)
	runtime.KeepAlive(method)
	if err == nil || !strings.HasPrefix(err.Error(), "OpenSSL: EVP_DigestSign: error:") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	// The thread's error queue was emptied: the next signature is fine.
	if _, err := method.Sign(signingInput(5), key); err != nil {
		t.Fatal(err)
	}
}

// memory is what the leak tests compare: the C heap in use, exact where
// glibc reports it, and the resident set size, which is logged (malloc and
// the Go runtime keep freed memory for reuse, so RSS is only a bound).
type memory struct{ heap, rss int64 }

func measure() memory {
	runtime.GC() // runs the cleanups of unreachable methods, which free their keys
	debug.FreeOSMemory()
	m := memory{heap: cmalloc.InUse(), rss: -1}
	if data, err := os.ReadFile("/proc/self/statm"); err == nil {
		if pages, err := strconv.ParseInt(strings.Fields(string(data))[1], 10, 64); err == nil {
			m.rss = pages * int64(os.Getpagesize())
		}
	}
	return m
}

// requireFlat fails unless, within 10 seconds (cleanups run in their own
// goroutines, some time after the collection that finds their object
// unreachable), the C heap is back within limit bytes of before, or, where
// the C library does not report its heap, RSS within rssLimit.
func requireFlat(t *testing.T, what string, before memory, limit, rssLimit int64) {
	t.Helper()
	if before.heap < 0 && before.rss < 0 {
		harness.MissingTool(t, "mallinfo2 (glibc 2.33) or /proc/self/statm", "neither the C heap nor RSS can be measured")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := measure()
		grew, bound, unit := after.heap-before.heap, limit, "C heap"
		if before.heap < 0 {
			grew, bound, unit = after.rss-before.rss, rssLimit, "RSS"
		}
		if grew <= bound {
			t.Logf("%s: C heap %d -> %d bytes, RSS %d -> %d KiB", what, before.heap, after.heap, before.rss>>10, after.rss>>10)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the %s grew by %d KiB (allowed: %d KiB) and did not come back within 10s", what, unit, grew>>10, bound>>10)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOpenSSLSignDoesNotLeak signs 20,000 times from every core: each
// signature's EVP_MD_CTX is freed, so memory stays flat. A 1024-bit key
// keeps it to seconds (what each call allocates does not depend on the key
// size); the service itself refuses keys under 2048 bits.
func TestOpenSSLSignDoesNotLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 25,000 times")
	}
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	method, err := rs256Method(key)
	if err != nil {
		t.Fatal(err)
	}
	input := signingInput(42)
	sign := func(n int) {
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for range workers {
			wg.Go(func() {
				for range n / workers {
					if _, err := method.Sign(input, key); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	sign(5_000) // warm up: per-thread state, malloc arenas, the Go heap
	before := measure()
	start := time.Now()
	sign(20_000)
	t.Logf("20,000 signatures in %s", time.Since(start).Round(time.Millisecond))
	// A leaked EVP_MD_CTX with its EVP_PKEY_CTX is about 700 bytes, so
	// 20,000 of them 13 MiB. The bounds leave room for glibc's per-thread
	// caches (up to about 1.5 MiB) and for the Go heap in RSS.
	requireFlat(t, "20,000 signatures", before, 4<<20, 16<<20)
	runtime.KeepAlive(method)
}

// TestOpenSSLKeysAreFreed makes thousands of OpenSSL keys, as thousands of
// key reloads would, and checks that the unreachable ones are freed.
func TestOpenSSLKeysAreFreed(t *testing.T) {
	if testing.Short() {
		t.Skip("makes thousands of keys")
	}
	key := keyPool()[2]
	input := signingInput(7)
	churn := func(n int) {
		for range n {
			m, err := rs256Method(key)
			if err != nil {
				t.Fatal(err)
			}
			// Signing once makes OpenSSL build its per-key caches
			// (Montgomery contexts, blinding) too.
			if _, err := m.Sign(input, key); err != nil {
				t.Fatal(err)
			}
		}
	}
	churn(500)
	before := measure()
	churn(2000)
	// A 2048-bit EVP_PKEY that has signed holds 5.2 KiB of C heap, so 2,000
	// kept ones would be 10 MiB. What does grow, to about 1.5 MiB and then
	// no further, is what glibc keeps in its per-thread caches (tcache),
	// which mallinfo2 counts as in use.
	requireFlat(t, "2,000 keys made and dropped", before, 4<<20, 48<<20)
}

//go:build openssl

package keys

// The OpenSSL build (`go build -tags openssl`, cgo) signs RS256 with the
// system's libcrypto (OpenSSL 3), about three times as fast per core as
// crypto/rsa. The key is handed to OpenSSL once, when the key set is built;
// every signature then costs one cgo call. Verification stays pure Go:
// it is not on the hot path, and it keeps the two builds checking each other.

/*
#cgo pkg-config: libcrypto
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#if OPENSSL_VERSION_MAJOR < 3
#error "the openssl build needs OpenSSL 3 (Debian: libssl-dev >= 3)"
#endif

// chattoken_err drains this thread's OpenSSL error queue into buf (the
// earliest error, which names the cause) or describes what failed.
static void chattoken_err(char *buf, size_t len, const char *what) {
	unsigned long e = ERR_get_error();
	if (e == 0) {
		snprintf(buf, len, "%s failed", what);
	} else {
		char reason[256];
		ERR_error_string_n(e, reason, sizeof reason);
		snprintf(buf, len, "%s: %s", what, reason);
	}
	ERR_clear_error();
}

// chattoken_sha256 is fetched once: an implicit fetch by name on every
// signature costs a lookup in the provider's method store.
static EVP_MD *chattoken_sha256;

static int chattoken_init(char *errbuf, size_t errlen) {
	if (chattoken_sha256 == NULL) {
		chattoken_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
		if (chattoken_sha256 == NULL) {
			chattoken_err(errbuf, errlen, "fetching SHA-256");
			return 0;
		}
	}
	return 1;
}

// chattoken_load decodes a PKCS#1 RSAPrivateKey.
static EVP_PKEY *chattoken_load(const unsigned char *der, long len, char *errbuf, size_t errlen) {
	const unsigned char *p = der;
	EVP_PKEY *pkey;
	ERR_clear_error();
	pkey = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, len);
	if (pkey == NULL) {
		chattoken_err(errbuf, errlen, "decoding the RSA key");
		return NULL;
	}
	if (p != der + len) {
		EVP_PKEY_free(pkey);
		snprintf(errbuf, errlen, "decoding the RSA key: trailing data");
		return NULL;
	}
	ERR_clear_error(); // decoders tried and refused along the way
	return pkey;
}

// chattoken_result is what chattoken_sign returns: the signature's length,
// or 0 with the step that failed and OpenSSL's earliest error code (0 when
// it queued none). Returned by value, so that signing allocates nothing in
// Go beyond the signature.
typedef struct {
	size_t n;
	unsigned long err;
	int step;
} chattoken_result;

enum { STEP_CTX = 1, STEP_INIT, STEP_PADDING, STEP_SIGN };

static chattoken_result chattoken_fail(int step) {
	chattoken_result r = { 0, ERR_get_error(), step };
	ERR_clear_error();
	return r;
}

// chattoken_sign writes the RSASSA-PKCS1-v1_5 SHA-256 signature of msg into
// sig (siglen bytes available). Everything happens in this one call, so the
// error queue it reads is the one of the thread that failed. The EVP_PKEY is
// only read, which OpenSSL 3 allows from many threads at once; each call has
// its own EVP_MD_CTX (and the EVP_PKEY_CTX it owns), always freed before
// returning.
static chattoken_result chattoken_sign(EVP_PKEY *pkey, _GoString_ msg, unsigned char *sig, size_t siglen) {
	chattoken_result r = { siglen, 0, 0 };
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *ctx;
	ERR_clear_error(); // whatever else left there is not this call's error
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		return chattoken_fail(STEP_CTX);
	}
	if (EVP_DigestSignInit(ctx, &pctx, chattoken_sha256, NULL, pkey) != 1) {
		r = chattoken_fail(STEP_INIT);
	} else if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
		r = chattoken_fail(STEP_PADDING);
	} else if (EVP_DigestSign(ctx, sig, &r.n, (const unsigned char *)_GoStringPtr(msg), _GoStringLen(msg)) != 1) {
		r = chattoken_fail(STEP_SIGN);
	}
	EVP_MD_CTX_free(ctx);
	return r;
}
*/
import "C"

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// RS256Signer names the RS256 implementation of this build, for logs and
// benchmarks.
const RS256Signer = "openssl"

var initOpenSSL = sync.OnceValue(func() error {
	var errbuf [256]C.char
	if C.chattoken_init(&errbuf[0], C.size_t(len(errbuf))) != 1 {
		return errors.New(C.GoString(&errbuf[0]))
	}
	return nil
})

// opensslRS256 is the RS256 signing method of one key: the key lives in
// OpenSSL as an EVP_PKEY for as long as the method is reachable.
type opensslRS256 struct {
	pkey    *C.EVP_PKEY
	size    int             // the signature's length in bytes
	private *rsa.PrivateKey // the key pkey holds
}

// rs256Method returns the method that signs RS256 tokens with key, which
// SigningKey.Private then holds unchanged.
func rs256Method(key *rsa.PrivateKey) (jwt.SigningMethod, error) {
	if err := initOpenSSL(); err != nil {
		return nil, fmt.Errorf("OpenSSL: %w", err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	defer clear(der) // the only other copy of the key in memory
	return newOpenSSLRS256(der, key)
}

// newOpenSSLRS256 hands the PKCS#1 DER of private to OpenSSL. The EVP_PKEY
// is freed once the method is unreachable.
func newOpenSSLRS256(der []byte, private *rsa.PrivateKey) (*opensslRS256, error) {
	if len(der) == 0 {
		return nil, errors.New("OpenSSL: no key")
	}
	var errbuf [256]C.char
	pkey := C.chattoken_load((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), &errbuf[0], C.size_t(len(errbuf)))
	if pkey == nil {
		return nil, fmt.Errorf("OpenSSL: %s", C.GoString(&errbuf[0]))
	}
	m := &opensslRS256{pkey: pkey, size: int(C.EVP_PKEY_get_size(pkey)), private: private}
	runtime.AddCleanup(m, func(p *C.EVP_PKEY) { C.EVP_PKEY_free(p) }, pkey)
	return m, nil
}

func (m *opensslRS256) Alg() string { return "RS256" }

// Sign signs with the key the method was made for. Another key (which the
// service never passes) is signed by golang-jwt, so the method is correct
// for any key, as jwt.SigningMethodRS256 is.
func (m *opensslRS256) Sign(signingString string, key any) ([]byte, error) {
	if k, ok := key.(*rsa.PrivateKey); !ok || k != m.private {
		return jwt.SigningMethodRS256.Sign(signingString, key)
	}
	sig := make([]byte, m.size)
	r := C.chattoken_sign(m.pkey, signingString, (*C.uchar)(unsafe.Pointer(&sig[0])), C.size_t(len(sig)))
	runtime.KeepAlive(m) // pkey must outlive the call
	if r.n == 0 {
		return nil, signError(r)
	}
	return sig[:r.n], nil
}

// signError describes a failed chattoken_sign with OpenSSL's message.
func signError(r C.chattoken_result) error {
	what := map[C.int]string{
		C.STEP_CTX: "EVP_MD_CTX_new", C.STEP_INIT: "EVP_DigestSignInit",
		C.STEP_PADDING: "setting PKCS#1 v1.5 padding", C.STEP_SIGN: "EVP_DigestSign",
	}[r.step]
	if what == "" {
		what = "signing"
	}
	if r.err == 0 {
		return fmt.Errorf("OpenSSL: %s failed", what)
	}
	var buf [256]C.char
	C.ERR_error_string_n(r.err, &buf[0], C.size_t(len(buf)))
	return fmt.Errorf("OpenSSL: %s: %s", what, C.GoString(&buf[0]))
}

// Verify is golang-jwt's: verification is not on the hot path.
func (m *opensslRS256) Verify(signingString string, sig []byte, key any) error {
	return jwt.SigningMethodRS256.Verify(signingString, sig, key)
}

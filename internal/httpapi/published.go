package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/chattoken/chattoken/internal/keys"
)

// taggedBody is a response body with its entity tag.
type taggedBody struct {
	data []byte
	etag string
}

// newTaggedBody returns data with a strong ETag derived from its content.
func newTaggedBody(data []byte) taggedBody {
	sum := sha256.Sum256(data)
	return taggedBody{data: data, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
}

// publishedBodies are the bodies one key set publishes, with their ETags.
type publishedBodies struct {
	set              *keys.Set
	pem, array, jwks taggedBody
}

// publishedCache holds the bodies of the last key set served, so that their
// ETags are hashed once per key set (a reload, or the hourly rebuild of the
// key array), never per request.
type publishedCache struct {
	last atomic.Pointer[publishedBodies]
}

func (c *publishedCache) bodies(set *keys.Set) *publishedBodies {
	if b := c.last.Load(); b != nil && b.set == set {
		return b
	}
	b := &publishedBodies{set: set,
		pem:   newTaggedBody(set.Published.PEM),
		array: newTaggedBody(set.Published.Array),
		jwks:  newTaggedBody(set.Published.JWKS),
	}
	c.last.Store(b)
	return b
}

// publishedBody picks one of a key set's bodies for a request, with its
// content type. ok is false when the set has nothing to publish in that
// form (an HMAC secret is never published).
type publishedBody func(*publishedBodies, *http.Request) (b taggedBody, contentType string, ok bool, err error)

// publicKeyBody is what Omnichannel's "public key URL" expects: one PEM block
// while one key is published, the documented JSON array once several are.
// ?format=pem or ?format=array forces either.
func publicKeyBody(b *publishedBodies, r *http.Request) (taggedBody, string, bool, error) {
	format := r.URL.Query().Get("format")
	switch {
	case format == "pem" || (format == "" && !b.set.Published.Several):
		return b.pem, "text/plain; charset=utf-8", b.pem.data != nil, nil
	case format == "array" || format == "":
		return b.array, "application/json", b.array.data != nil, nil
	}
	return taggedBody{}, "", false, newError(http.StatusBadRequest, CodeInvalidRequest, nil,
		"format must be pem or array")
}

func jwksBody(b *publishedBodies, _ *http.Request) (taggedBody, string, bool, error) {
	return b.jwks, "application/json", b.jwks.data != nil, nil
}

// newPublishedHandler serves a public-key body of the current key set.
// Verifiers fetch these often, so they carry an ETag and a short max-age,
// and a conditional request gets 304. (http.ServeContent is not used: it
// would also answer Range and If-Match with bodies outside the contract.)
func newPublishedHandler(current func() *keys.Set, pick publishedBody) http.Handler {
	cache := new(publishedCache)
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		b, contentType, ok, err := pick(cache.bodies(current()), r)
		if err != nil {
			return err
		}
		if !ok {
			return newError(http.StatusNotFound, CodeNotFound, nil,
				"no public key is published: the service signs with a shared secret (HS256)")
		}
		writeBody(w, r, b, contentType, "public, max-age=60")
		return nil
	})
}

// newStaticHandler serves a body fixed at build time.
func newStaticHandler(data []byte, contentType, cacheControl string, extra http.Header) http.Handler {
	b := newTaggedBody(data)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range extra {
			w.Header()[k] = v
		}
		writeBody(w, r, b, contentType, cacheControl)
	})
}

// writeBody sends a precomputed body with its ETag, or 304 when the
// client's If-None-Match names it.
func writeBody(w http.ResponseWriter, r *http.Request, b taggedBody, contentType, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", b.etag)
	if etagMatches(r.Header.Get("If-None-Match"), b.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(b.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.data)
	}
}

// etagMatches reports whether an If-None-Match header names etag (RFC 9110
// §13.1.2: a list of tags, weak or strong, or "*").
func etagMatches(header, etag string) bool {
	for candidate := range strings.SplitSeq(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == etag || candidate == "*" {
			return true
		}
	}
	return false
}

package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/chattoken/chattoken/internal/keys"
)

// publishedBody picks one of the precomputed bodies of a key set for a
// request, with its content type. ok is false when the set has nothing to
// publish in that form (an HMAC secret is never published).
type publishedBody func(*keys.Set, *http.Request) (body keys.Body, contentType string, ok bool, err error)

// publicKeyBody is what Omnichannel's "public key URL" expects: one PEM block
// while one key is published, the documented JSON array once several are.
// ?format=pem or ?format=array forces either.
func publicKeyBody(s *keys.Set, r *http.Request) (keys.Body, string, bool, error) {
	format := r.URL.Query().Get("format")
	switch {
	case format == "pem" || (format == "" && !s.Published.Several):
		return s.Published.PEM, "text/plain; charset=utf-8", s.Published.PEM.Data != nil, nil
	case format == "array" || format == "":
		return s.Published.Array, "application/json", s.Published.Array.Data != nil, nil
	}
	return keys.Body{}, "", false, newError(http.StatusBadRequest, CodeInvalidRequest, nil,
		"format must be pem or array")
}

func jwksBody(s *keys.Set, _ *http.Request) (keys.Body, string, bool, error) {
	return s.Published.JWKS, "application/json", s.Published.JWKS.Data != nil, nil
}

// newPublishedHandler serves a precomputed public-key body. Verifiers fetch
// these often, so they carry an ETag and a short max-age, and a conditional
// request gets 304. (http.ServeContent is not used: it would also answer
// Range and If-Match with bodies outside the contract.)
func newPublishedHandler(current func() *keys.Set, pick publishedBody) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		body, contentType, ok, err := pick(current(), r)
		if err != nil {
			return err
		}
		if !ok {
			return newError(http.StatusNotFound, CodeNotFound, nil,
				"no public key is published: the service signs with a shared secret (HS256)")
		}
		writeBody(w, r, body, contentType, "public, max-age=60")
		return nil
	})
}

// newStaticHandler serves a body fixed at build time.
func newStaticHandler(data []byte, contentType, cacheControl string, extra http.Header) http.Handler {
	body := keys.NewBody(data)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range extra {
			w.Header()[k] = v
		}
		writeBody(w, r, body, contentType, cacheControl)
	})
}

// writeBody sends a precomputed body with its ETag, or 304 when the
// client's If-None-Match names it.
func writeBody(w http.ResponseWriter, r *http.Request, body keys.Body, contentType, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", body.ETag)
	if etagMatches(r.Header.Get("If-None-Match"), body.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body.Data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body.Data)
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

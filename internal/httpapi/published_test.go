package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/testkeys"
)

// TestPublishedBodiesFollowKeySet: the ETags are hashed once per key set,
// so after a reload (another key) or the hourly rebuild (the same key, the
// key array's expiry moved) the answer and its ETag must be the new set's,
// and a verifier's ETag of the previous set must no longer get a 304.
func TestPublishedBodiesFollowKeySet(t *testing.T) {
	t.Parallel()
	first, err := keys.NewRSASet(testkeys.RSA(0))
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.NewRSASet(testkeys.RSA(1))
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := first.Rebuilt(first.BuiltAt.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[keys.Set]
	publicKey := newPublishedHandler(current.Load, publicKeyBody)
	jwks := newPublishedHandler(current.Load, jwksBody)
	for target, route := range map[string]struct {
		h    http.Handler
		data func(*keys.Set) []byte
	}{
		"/publickey":              {publicKey, func(s *keys.Set) []byte { return s.Published.PEM }},
		"/publickey?format=array": {publicKey, func(s *keys.Set) []byte { return s.Published.Array }},
		"/.well-known/jwks.json":  {jwks, func(s *keys.Set) []byte { return s.Published.JWKS }},
	} {
		get := func(ifNoneMatch string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			if ifNoneMatch != "" {
				req.Header.Set("If-None-Match", ifNoneMatch)
			}
			rec := httptest.NewRecorder()
			route.h.ServeHTTP(rec, req)
			return rec
		}
		previous := ""
		for i, set := range []*keys.Set{first, other, rebuilt, first} {
			current.Store(set)
			want := newTaggedBody(route.data(set))
			if rec := get(""); rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want.data) || rec.Header().Get("ETag") != want.etag {
				t.Fatalf("GET %s, set %d: %d, ETag %q; want 200 with the set's body and ETag %q",
					target, i, rec.Code, rec.Header().Get("ETag"), want.etag)
			}
			if rec := get(want.etag); rec.Code != http.StatusNotModified {
				t.Errorf("GET %s, set %d, with the current ETag: %d, want 304", target, i, rec.Code)
			}
			if previous != "" && previous != want.etag {
				if rec := get(previous); rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want.data) {
					t.Errorf("GET %s, set %d, with the previous set's ETag: %d; want 200 with the new body", target, i, rec.Code)
				}
			}
			previous = want.etag
		}
	}

	if pem, jwks := newTaggedBody(first.Published.PEM), newTaggedBody(first.Published.JWKS); pem.etag == "" || pem.etag == jwks.etag {
		t.Errorf("ETags %q and %q: want distinct, non-empty", pem.etag, jwks.etag)
	}
}

// TestPublishedCacheHashesOncePerSet: serving the same set again reuses the
// bodies hashed for it instead of hashing per request.
func TestPublishedCacheHashesOncePerSet(t *testing.T) {
	t.Parallel()
	set, err := keys.NewRSASet(testkeys.RSA(0))
	if err != nil {
		t.Fatal(err)
	}
	later, err := set.Rebuilt(set.BuiltAt.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var c publishedCache
	b := c.bodies(set)
	if c.bodies(set) != b {
		t.Error("the same key set was hashed twice")
	}
	first := c.bodies(later)
	if first == b || c.bodies(later) != first {
		t.Error("a new key set must be hashed once, and then reused")
	}
}

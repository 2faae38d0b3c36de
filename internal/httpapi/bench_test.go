package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/keys"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/session"
	"github.com/chattoken/chattoken/internal/testkeys"
	"github.com/chattoken/chattoken/internal/token"
)

// benchContextSchema has one variable of each source: two from the session,
// one the browser may send and a static one.
const benchContextSchema = `{
  "encoding": "string",
  "variables": {
    "msdyn_cartvalue": {"type": "number",  "source": "session", "field": "cart.total"},
    "msdyn_isvip":     {"type": "boolean", "source": "session", "field": "vip", "required": true},
    "msdyn_pageurl":   {"type": "text",    "source": "request", "max_length": 2048},
    "msdyn_channel":   {"type": "text",    "source": "static",  "value": "web"}
  }
}`

// benchDocument is the session document of the cached case, and what the
// upstream of the uncached case answers (as JSON).
const benchDocumentJSON = `{"sub":"0f8fad5b-d9cb-469f-a165-70867728950e","email":"ann@shop.example","cart":{"total":129.9},"vip":true}`

func benchDocument(b *testing.B) jsondoc.Document {
	b.Helper()
	return parseDocument(b, benchDocumentJSON)
}

// parseDocument decodes a session document as the introspect source does,
// numbers kept exact.
func parseDocument(tb testing.TB, s string) jsondoc.Document {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var d jsondoc.Document
	if err := dec.Decode(&d); err != nil {
		tb.Fatal(err)
	}
	return d
}

// benchHandler is the whole service handler as serve.go builds it, with a
// silent logger, no limits and metrics on (NewServer's own registry).
func benchHandler(b *testing.B, src session.Source, set *keys.Set, reuse bool) http.Handler {
	b.Helper()
	return benchHandlerSchema(b, src, set, reuse, benchContextSchema)
}

// benchHandlerSchema is benchHandler with another context schema; "" is
// none (no lwicontexts claim).
func benchHandlerSchema(b testing.TB, src session.Source, set *keys.Set, reuse bool, schemaJSON string) http.Handler {
	b.Helper()
	schema := lwicontext.Empty()
	if schemaJSON != "" {
		var err error
		if schema, err = lwicontext.Parse([]byte(schemaJSON), lwicontext.DefaultMaxBytes); err != nil {
			b.Fatal(err)
		}
	}
	sub, _ := jsondoc.ParsePath("sub")
	email, _ := jsondoc.ParsePath("email")
	minter := &token.Minter{
		Issuer: "https://shop.example", TTL: 15 * time.Minute, ClockSkew: 30 * time.Second,
		Keys: func() *keys.Set { return set }, Now: time.Now,
	}
	if reuse {
		minter.Reuse = token.NewReuse(10_000, minter.TTL)
	}
	ready := &atomic.Bool{}
	ready.Store(true)
	return NewServer(Deps{
		Log:      zerolog.Nop(),
		Sessions: src,
		Minter:   minter,
		Keys:     minter.Keys,
		Claims:   token.Assembler{Subject: sub, Identity: []jsondoc.Field{{Name: "email", Path: email}}, Context: schema},
		Ready:    ready,
	})
}

// benchUpstream is a "who am I" endpoint answering benchDocumentJSON.
func benchUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("session"); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchDocumentJSON)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// serveOne runs one request through h and fails unless it is a 200.
func serveOne(b *testing.B, h http.Handler, req *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

// BenchmarkTokenHandler measures GET /token through the whole handler
// (middleware, routing, CORS, session, claims, context, signing, access log
// and metrics) with an httptest.ResponseRecorder: no network on the client
// side. cached: the session source answers at once (a cache hit);
// cached-nocontext: the same without a context schema (no lwicontexts);
// uncached: session.NewIntrospect with its cache off asks an httptest
// upstream over loopback every time. All but cached-nocontext use a
// four-variable context schema and copy one identity claim. reuse=on hands out the token already minted for the
// same session; reuse=off signs every time.
func BenchmarkTokenHandler(b *testing.B) {
	rsaSet, err := keys.NewRSASet(testkeys.RSA(0))
	if err != nil {
		b.Fatal(err)
	}
	hmacSet, err := keys.NewHMACSet([]byte("a-benchmark-secret-of-32-bytes-or-more"))
	if err != nil {
		b.Fatal(err)
	}
	doc := benchDocument(b)
	cached := fakeSource{lookup: func(context.Context, *http.Request) (jsondoc.Document, error) { return doc, nil }}
	upstream := benchUpstream(b)
	uncached := session.NewIntrospect(session.IntrospectOptions{
		URL:      upstream.URL,
		Timeout:  2 * time.Second,
		CacheTTL: 0,
	})

	for _, src := range []struct {
		name   string
		src    session.Source
		schema string
	}{{"cached", cached, benchContextSchema}, {"cached-nocontext", cached, ""}, {"uncached", uncached, benchContextSchema}} {
		for _, alg := range []struct {
			name string
			set  *keys.Set
		}{{"RS256", rsaSet}, {"HS256", hmacSet}} {
			for _, reuse := range []bool{true, false} {
				name := src.name + "/" + alg.name + "/reuse=off"
				if reuse {
					name = src.name + "/" + alg.name + "/reuse=on"
				}
				b.Run(name, func(b *testing.B) {
					h := benchHandlerSchema(b, src.src, alg.set, reuse, src.schema)
					req := httptest.NewRequest(http.MethodGet, "/token", nil)
					req.Header.Set("Cookie", "session=a-session-cookie-value")
					serveOne(b, h, req) // the reused token, when on
					b.ReportAllocs()
					for b.Loop() {
						serveOne(b, h, req)
					}
				})
			}
		}
	}

	// POST with a context value, reuse off: adds reading and checking the
	// JSON body.
	b.Run("cached/HS256/POST-context", func(b *testing.B) {
		h := benchHandler(b, cached, hmacSet, false)
		body := `{"context":{"msdyn_pageurl":"https://shop.example/cart?step=2"}}`
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Cookie", "session=a-session-cookie-value")
			serveOne(b, h, req)
		}
	})

	// What the benchmark itself allocates per request (the recorder),
	// to subtract from the figures above.
	b.Run("recorder-only", func(b *testing.B) {
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		req := httptest.NewRequest(http.MethodGet, "/token", nil)
		b.ReportAllocs()
		for b.Loop() {
			serveOne(b, h, req)
		}
	})

	// The floor: the same middleware and router around a handler that
	// does nothing (GET /healthz).
	b.Run("healthz", func(b *testing.B) {
		h := benchHandler(b, cached, hmacSet, false)
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		b.ReportAllocs()
		for b.Loop() {
			serveOne(b, h, req)
		}
	})
}

package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/chattoken/chattoken/internal/web"
)

// addRoutes lists every route the service answers. HEAD is answered
// wherever GET is (see NewServer).
func addRoutes(r chi.Router, d Deps) {
	r.Group(func(r chi.Router) {
		// CORS decides which other origins may read a token; it never
		// refuses a request.
		r.Use(newCORS(d.CORSOrigins))
		tokenHandler := newTokenHandler(d)
		r.Method(http.MethodGet, "/token", tokenHandler)
		r.Method(http.MethodPost, "/token", tokenHandler)
		r.Method(http.MethodOptions, "/token", newOptionsHandler(r))
	})

	r.Method(http.MethodGet, "/publickey", newPublishedHandler(d.Keys, publicKeyBody))
	r.Method(http.MethodGet, "/.well-known/jwks.json", newPublishedHandler(d.Keys, jwksBody))

	// The widget-side script; it finds /token beside itself.
	r.Method(http.MethodGet, "/client.js", newStaticHandler(web.ClientJS, "text/javascript; charset=utf-8", "public, max-age=300", nil))

	r.Method(http.MethodGet, "/healthz", newHealthHandler())
	r.Method(http.MethodGet, "/readyz", newReadyHandler(d.Ready))
}

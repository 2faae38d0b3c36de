package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"
)

// newCORS lets the listed origins read /token with credentials. Other
// origins get no CORS headers, so their browsers hide the answer; the
// request itself is served either way, so same-origin pages behind a proxy
// never depend on this list.
func newCORS(origins []string) func(http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return cors.Handler(cors.Options{
		// An exact lookup rather than AllowedOrigins: given an empty list,
		// the library would allow every origin.
		AllowOriginFunc:  func(_ *http.Request, origin string) bool { return allowed[origin] },
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Content-Type", "Authorization"},
		ExposedHeaders:   []string{"X-Request-Id"},
		AllowCredentials: true,
		MaxAge:           600,
	})
}

// newOptionsHandler answers an OPTIONS request that is not a CORS preflight
// (preflights are answered by the CORS middleware) with the route's methods.
func newOptionsHandler(routes chi.Routes) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(routes, r.URL.Path), ", "))
		w.WriteHeader(http.StatusNoContent)
	})
}

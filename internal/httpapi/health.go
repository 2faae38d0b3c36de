package httpapi

import (
	"net/http"
	"sync/atomic"
)

// newHealthHandler answers 200 for as long as the process serves: the
// liveness probe.
func newHealthHandler() http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		writeText(w, http.StatusOK, "ok\n")
		return nil
	})
}

// newReadyHandler answers 200 while the service takes new work and 503 from
// the moment shutdown begins, so a load balancer stops sending first.
func newReadyHandler(ready *atomic.Bool) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if !ready.Load() {
			return newError(http.StatusServiceUnavailable, CodeShuttingDown, nil, "the service is shutting down")
		}
		writeText(w, http.StatusOK, "ready\n")
		return nil
	})
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

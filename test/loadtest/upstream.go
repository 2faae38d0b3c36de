package main

import (
	"net"
	"net/http"
	"time"
)

// startUpstream starts the site's "who am I" endpoint on loopback, in this
// process: cookie s=<id> answers 200 {"sub":"c-<id>"}, anything else 401.
// It does as little as possible, so it is never the bottleneck.
func startUpstream() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := r.Cookie("s")
			if err != nil || !plainID(c.Value) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			body := make([]byte, 0, 16+len(c.Value))
			body = append(body, `{"sub":"c-`...)
			body = append(body, c.Value...)
			body = append(body, `"}`...)
			w.Header()["Content-Type"] = []string{"application/json"}
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// plainID reports whether s is a non-empty id safe to put in a JSON string
// as is.
func plainID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

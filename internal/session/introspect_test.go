package session

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is a real "who am I" endpoint that records what it received.
type upstream struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
	methods []string
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.methods = append(u.methods, r.Method)
		u.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) received() ([]http.Header, []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.headers, u.methods
}

func browserRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.Header.Set("Cookie", "session=abc; theme=dark")
	r.Header.Set("Authorization", "Bearer xyz")
	r.Header.Set("X-Secret-Internal", "must-not-leave")
	r.Header.Set("User-Agent", "browser")
	return r
}

func TestIntrospectForwardsOnlyCredentials(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"sub":"c-1"}`))
	})
	doc, err := NewIntrospect(IntrospectOptions{URL: u.URL + "/me", Timeout: time.Second}).Lookup(context.Background(), browserRequest())
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if doc["sub"] != "c-1" {
		t.Errorf("doc = %v", doc)
	}
	headers, methods := u.received()
	if len(headers) != 1 || methods[0] != http.MethodGet {
		t.Fatalf("upstream saw %d calls %v", len(headers), methods)
	}
	h := headers[0]
	if h.Get("Cookie") != "session=abc; theme=dark" || h.Get("Authorization") != "Bearer xyz" {
		t.Errorf("credentials not forwarded: %v", h)
	}
	if h.Get("X-Secret-Internal") != "" || h.Get("User-Agent") == "browser" {
		t.Errorf("forwarded a header it should not: %v", h)
	}
}

func TestIntrospectOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"401", status(http.StatusUnauthorized, ""), ErrUnauthenticated},
		{"403", status(http.StatusForbidden, ""), ErrUnauthenticated},
		{"redirect to login is not followed", redirect("/login"), ErrUnauthenticated},
		{"500", status(http.StatusInternalServerError, `{"sub":"c-1"}`), ErrUnavailable},
		{"404", status(http.StatusNotFound, ""), ErrUnavailable},
		{"429", status(http.StatusTooManyRequests, ""), ErrUnavailable},
		{"200 array", status(http.StatusOK, `[{"sub":"c-1"}]`), ErrUnavailable},
		{"200 null", status(http.StatusOK, `null`), ErrUnavailable},
		{"200 html", status(http.StatusOK, `<html>`), ErrUnavailable},
		{"200 two objects", status(http.StatusOK, `{"sub":"a"}{"sub":"b"}`), ErrUnavailable},
		{"200 oversized", status(http.StatusOK, `{"pad":"`+strings.Repeat("x", maxDocumentBytes)+`"}`), ErrUnavailable},
		{"slower than the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, tt.handler)
			start := time.Now()
			_, err := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: 300 * time.Millisecond}).Lookup(context.Background(), browserRequest())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Lookup error = %v, want %v", err, tt.want)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("took %s; the timeout is 300ms", elapsed)
			}
			if strings.Contains(err.Error(), "abc") || strings.Contains(err.Error(), "xyz") {
				t.Errorf("error %q repeats a credential", err)
			}
		})
	}
}

func TestIntrospectConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, err = NewIntrospect(IntrospectOptions{URL: "http://" + addr + "/me", Timeout: time.Second}).Lookup(context.Background(), browserRequest())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Lookup error = %v, want ErrUnavailable", err)
	}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func redirect(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == to {
			// Following the redirect would land here and "sign in".
			_, _ = w.Write([]byte(`{"sub":"login-page"}`))
			return
		}
		http.Redirect(w, r, to, http.StatusFound)
	}
}

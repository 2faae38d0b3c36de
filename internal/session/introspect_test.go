package session

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chattoken/chattoken/internal/jsondoc"
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

// countingUpstream answers 200 with a document for session "ann" (or 401
// once revoked), slowly enough that concurrent lookups overlap, and counts
// its calls.
type countingUpstream struct {
	*httptest.Server
	calls   atomic.Int32
	revoked atomic.Bool
	delay   time.Duration
}

func newCountingUpstream(t *testing.T, delay time.Duration) *countingUpstream {
	t.Helper()
	u := &countingUpstream{delay: delay}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		time.Sleep(u.delay)
		if u.revoked.Load() || r.Header.Get("Cookie") != "session=ann" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"sub":"c-ann"}`))
	}))
	t.Cleanup(u.Close)
	return u
}

func annRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.Header.Set("Cookie", "session=ann")
	return r
}

func TestIntrospectCollapsesConcurrentLookups(t *testing.T) {
	t.Parallel()
	u := newCountingUpstream(t, 200*time.Millisecond)
	src := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: 2 * time.Second, CacheTTL: time.Minute, CacheSize: 100})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc, err := src.Lookup(context.Background(), annRequest())
			if err == nil && doc["sub"] != "c-ann" {
				err = errors.New("wrong document")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := u.calls.Load(); n != 1 {
		t.Errorf("100 concurrent lookups of one session cost %d upstream calls, want 1", n)
	}
}

func TestIntrospectCacheExpiryAndRevocation(t *testing.T) {
	t.Parallel()
	u := newCountingUpstream(t, 0)
	ttl := 300 * time.Millisecond
	src := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: time.Second, CacheTTL: ttl, CacheSize: 100})
	lookup := func() error {
		_, err := src.Lookup(context.Background(), annRequest())
		return err
	}
	if err := lookup(); err != nil {
		t.Fatal(err)
	}
	if err := lookup(); err != nil || u.calls.Load() != 1 {
		t.Fatalf("a cached session cost %d calls (%v)", u.calls.Load(), err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if err := lookup(); err != nil || u.calls.Load() != 2 {
		t.Fatalf("an expired entry was not refetched: %d calls (%v)", u.calls.Load(), err)
	}

	// Revoked upstream: the cached answer holds until the TTL passes, then
	// minting stops.
	u.revoked.Store(true)
	if err := lookup(); err != nil {
		t.Fatalf("within the TTL the cached session should still answer: %v", err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if err := lookup(); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a revoked session still minted after the TTL: %v", err)
	}
	// The refusal is cached too, briefly: a flood costs one call.
	calls := u.calls.Load()
	for range 10 {
		_ = lookup()
	}
	if u.calls.Load() != calls {
		t.Errorf("signed-out lookups cost %d more calls; want them cached", u.calls.Load()-calls)
	}
}

func TestIntrospectCacheKeyedByCredentials(t *testing.T) {
	t.Parallel()
	u := newCountingUpstream(t, 0)
	src := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: time.Second, CacheTTL: time.Minute, CacheSize: 100})
	if _, err := src.Lookup(context.Background(), annRequest()); err != nil {
		t.Fatal(err)
	}
	// Another cookie is another session: never served from ann's entry.
	other := httptest.NewRequest(http.MethodGet, "/token", nil)
	other.Header.Set("Cookie", "session=bob")
	if _, err := src.Lookup(context.Background(), other); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("bob got ann's cached session: %v", err)
	}
	for _, k := range src.positive.Keys() {
		if strings.Contains(k, "ann") || strings.Contains(k, "session=") {
			t.Errorf("the cache key holds a raw cookie: %q", k)
		}
	}
}

func TestIntrospectForwardsChosenHeaders(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"sub":"c-1"}`))
	})
	src := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: time.Second, Headers: []string{"X-Session-Token"}})
	r := browserRequest()
	r.Header.Set("X-Session-Token", "t-1")
	if _, err := src.Lookup(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	headers, _ := u.received()
	if h := headers[0]; h.Get("X-Session-Token") != "t-1" || h.Get("Cookie") != "" || h.Get("Authorization") != "" {
		t.Errorf("forwarded %v; want only X-Session-Token", h)
	}
}

func TestIntrospectUpstream429(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	_, err := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: time.Second}).Lookup(context.Background(), browserRequest())
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.RetryAfter != 7*time.Second || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("429: %v; want UnavailableError with RetryAfter 7s", err)
	}
	for in, want := range map[string]time.Duration{"": 5 * time.Second, "0": time.Second, "86400": time.Minute, "soon": 5 * time.Second} {
		if got := retryAfter(in); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestIntrospectConcurrencyBound(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte(`{"sub":"x"}`))
	})
	var outcomes sync.Map
	src := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: 5 * time.Second, MaxConcurrent: 2,
		OnUpstream: func(o string, _ time.Duration) { outcomes.Store(o, true) }})
	lookup := func(cookie string) error {
		r := httptest.NewRequest(http.MethodGet, "/token", nil)
		r.Header.Set("Cookie", cookie)
		_, err := src.Lookup(context.Background(), r)
		return err
	}
	done := make(chan error, 2)
	for _, c := range []string{"a=1", "b=2"} {
		go func() { done <- lookup(c) }()
	}
	// Wait until both slots are taken.
	deadline := time.Now().Add(5 * time.Second)
	for len(src.slots) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := lookup("c=3"); !errors.Is(err, ErrUnavailable) || time.Since(start) > time.Second {
		t.Errorf("a third lookup past the bound: %v after %s; want ErrUnavailable at once", err, time.Since(start))
	}
	if _, ok := outcomes.Load("overloaded"); !ok {
		t.Error("the refusal was not reported as overloaded")
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("a lookup inside the bound failed: %v", err)
		}
	}
}

func TestIntrospectKeepsOnlyWhatIsRead(t *testing.T) {
	t.Parallel()
	pad := strings.Repeat("x", 200_000)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"contact":{"id":"c-1","email":"ann@shop.example","history":"` + pad + `"},` +
			`"cart":{"total":12.50,"lines":["` + pad + `"]},"vip":true,"prefs":{"blob":"` + pad + `"},` +
			`"tags":["` + pad + `"],"gone":null,"pad":"` + pad + `"}`))
	})
	var keep []jsondoc.Path
	for _, s := range []string{"vip", "cart.total", "contact.id", "contact.email", "prefs", "prefs.blob", "tags", "gone", "missing.deep", "vip.inner"} {
		p, err := jsondoc.ParsePath(s)
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, p)
	}
	src := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: time.Second, CacheTTL: time.Minute, CacheSize: 10, CacheBytes: 1 << 20, Keep: keep})
	want := jsondoc.Document{
		"contact": map[string]any{"id": "c-1", "email": "ann@shop.example"},
		"cart":    map[string]any{"total": json.Number("12.50")},
		"vip":     true,
		// An object or array at a kept path is held empty: its kind is
		// all that a refusal names. A longer kept path fills it.
		"prefs": map[string]any{"blob": pad},
		"tags":  []any{},
	}
	for _, from := range []string{"upstream", "cache"} {
		doc, err := src.Lookup(context.Background(), annRequest())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(doc, want) {
			t.Errorf("from the %s: %.300v\nwant %.300v", from, doc, want)
		}
	}
	if calls, _ := u.received(); len(calls) != 1 {
		t.Errorf("%d upstream calls, want 1 and a cache hit", len(calls))
	}
	// What the cache holds is what was kept: the one padded value.
	if w := src.positive.Weight(); w < int64(len(pad)) || w > int64(len(pad))+2048 {
		t.Errorf("the cache weighs %d bytes for a kept document of about %d", w, len(pad))
	}
}

func TestIntrospectCacheBytes(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Cookie"), "out") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"sub":"` + strings.Repeat("s", 1000) + `"}`))
	})
	const budget = 64 << 10
	src := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: time.Second, CacheTTL: time.Minute, CacheSize: 5000, CacheBytes: budget})
	for i := range 200 {
		for _, prefix := range []string{"in", "out"} {
			r := httptest.NewRequest(http.MethodGet, "/token", nil)
			r.Header.Set("Cookie", prefix+strconv.Itoa(i))
			_, _ = src.Lookup(context.Background(), r)
		}
	}
	// 200 documents of over 1 KB do not fit in 56 KiB; 200 refusals do not
	// fit in 8 KiB. Each cache keeps its latest entries within its share.
	pos, neg := src.positive, src.negative
	if pos.Weight() > budget*7/8 || pos.Len() >= 200 || pos.Len() < 20 {
		t.Errorf("signed-in cache: %d entries weighing %d; want under %d bytes", pos.Len(), pos.Weight(), budget*7/8)
	}
	if neg.Weight() > budget/8 || neg.Len() >= 200 || neg.Len() < 10 {
		t.Errorf("signed-out cache: %d entries weighing %d; want under %d bytes", neg.Len(), neg.Weight(), budget/8)
	}
	if _, ok := pos.Get(cacheKey(http.Header{"Cookie": {"in199"}})); !ok {
		t.Error("the latest session is not cached")
	}
}

func TestIntrospectWithoutCredentialsAsksNobody(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"sub":"anyone"}`))
	})
	var upstreamCalls atomic.Int32
	onUpstream := func(string, time.Duration) { upstreamCalls.Add(1) }
	byDefault := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: time.Second, CacheTTL: time.Minute, CacheSize: 10, OnUpstream: onUpstream})
	chosen := NewIntrospect(IntrospectOptions{URL: u.URL, Timeout: time.Second, Headers: []string{"X-Session-Token"}, OnUpstream: onUpstream})
	tests := []struct {
		name    string
		src     *Introspect
		headers map[string]string
	}{
		{"no header at all", byDefault, map[string]string{"User-Agent": "curl"}},
		{"empty Cookie and Authorization", byDefault, map[string]string{"Cookie": "", "Authorization": " "}},
		{"a cookie where another header carries the session", chosen, map[string]string{"Cookie": "session=abc"}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/token", nil)
		for k, v := range tt.headers {
			r.Header.Set(k, v)
		}
		if _, err := tt.src.Lookup(context.Background(), r); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", tt.name, err)
		}
	}
	if calls, _ := u.received(); len(calls) != 0 || upstreamCalls.Load() != 0 {
		t.Errorf("requests without credentials cost %d upstream calls", len(calls))
	}
	if byDefault.negative.Len() != 0 {
		t.Error("a request without credentials was cached")
	}
}

func TestIntrospectErrorsNameTheURLSafely(t *testing.T) {
	t.Parallel()
	const secrets = "op:pw-5ecret@"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	failing := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hangs":
			<-r.Context().Done()
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/html":
			_, _ = w.Write([]byte("<html>"))
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	host := strings.TrimPrefix(failing.URL, "http://")
	for _, target := range []string{closed + "/me", host + "/me", host + "/hangs", host + "/busy", host + "/html"} {
		src := NewIntrospect(IntrospectOptions{URL: "http://" + secrets + target + "?api_key=q-5ecret#frag", Timeout: 200 * time.Millisecond})
		_, err := src.Lookup(context.Background(), browserRequest())
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s: %v, want ErrUnavailable", target, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "GET http://"+target+":") || strings.Contains(msg, "5ecret") || strings.Contains(msg, "frag") {
			t.Errorf("%s: %q; want the scheme, host and path and no user info, query or fragment", target, msg)
		}
	}
}

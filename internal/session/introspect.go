package session

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/chattoken/chattoken/internal/cache"
)

// maxDocumentBytes bounds what is read from the upstream, so a broken
// endpoint cannot make the service buffer an unbounded body.
const maxDocumentBytes = 1 << 20

// Negative answers (401/403) are cached briefly: long enough to absorb a
// flood of signed-out requests, short enough that signing in takes effect
// at once in practice.
const maxNegativeTTL = 5 * time.Second

// Upstream 429 handling: the client is told to come back after what the
// upstream asked for, within these bounds.
const (
	defaultRetryAfter = 5 * time.Second
	maxRetryAfter     = time.Minute
)

// IntrospectOptions configure an Introspect source.
type IntrospectOptions struct {
	// URL is the site's "who am I" endpoint.
	URL string
	// Timeout bounds one upstream call.
	Timeout time.Duration
	// Headers are the request headers forwarded upstream; they identify
	// the session. Default: Cookie and Authorization.
	Headers []string
	// CacheTTL keeps positive answers this long; 0 disables caching.
	CacheTTL time.Duration
	// CacheSize bounds each cache (least recently used entries go first).
	CacheSize int
	// MaxConcurrent bounds upstream calls in flight, so a slow backend
	// cannot pile up goroutines; past it a lookup fails at once. 0: no bound.
	MaxConcurrent int
	// OnUpstream, when set, is told the outcome and duration of each
	// upstream call: ok, unauthenticated, rate_limited, unavailable.
	OnUpstream func(outcome string, d time.Duration)
	// OnCache, when set, is told each cache lookup: hit, negative_hit, miss.
	OnCache func(result string)
	// WrapTransport, when set, wraps the upstream transport (tracing).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Introspect asks the site's own "who am I" endpoint about each request,
// remembering answers briefly and sending one upstream call for any number
// of concurrent requests with the same credentials.
type Introspect struct {
	opt      IntrospectOptions
	client   *http.Client
	group    singleflight.Group
	positive *cache.TTL[string, Document]
	negative *cache.TTL[string, error]
	// slots holds one token per upstream call in flight.
	slots chan struct{}
}

var _ Source = (*Introspect)(nil)

// UnavailableError is an upstream failure that says when to retry.
type UnavailableError struct {
	RetryAfter time.Duration
	Reason     string
}

func (e *UnavailableError) Error() string { return ErrUnavailable.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// NewIntrospect returns a Source for opt.
func NewIntrospect(opt IntrospectOptions) *Introspect {
	if len(opt.Headers) == 0 {
		opt.Headers = []string{"Cookie", "Authorization"}
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opt.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opt.Timeout,
		ResponseHeaderTimeout: opt.Timeout,
	}
	var rt http.RoundTripper = transport
	if opt.WrapTransport != nil {
		rt = opt.WrapTransport(transport)
	}
	s := &Introspect{
		opt: opt,
		client: &http.Client{
			Transport: rt,
			// A signed-out user is often redirected to a login page: that
			// redirect is the answer, so it is never followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if opt.OnUpstream == nil {
		opt.OnUpstream = func(string, time.Duration) {}
	}
	if opt.OnCache == nil {
		opt.OnCache = func(string) {}
	}
	s.opt = opt
	if opt.MaxConcurrent > 0 {
		s.slots = make(chan struct{}, opt.MaxConcurrent)
	}
	if opt.CacheTTL > 0 {
		s.positive = cache.New[string, Document](opt.CacheSize)
		s.negative = cache.New[string, error](opt.CacheSize)
	}
	return s
}

// Lookup implements Source.
func (s *Introspect) Lookup(ctx context.Context, r *http.Request) (Document, error) {
	credentials := make(http.Header, len(s.opt.Headers))
	for _, name := range s.opt.Headers {
		if vs := r.Header.Values(name); len(vs) > 0 {
			credentials[name] = vs
		}
	}
	key := cacheKey(credentials)
	if s.positive != nil {
		if doc, ok := s.positive.Get(key); ok {
			s.opt.OnCache("hit")
			return doc, nil
		}
		if err, ok := s.negative.Get(key); ok {
			s.opt.OnCache("negative_hit")
			return nil, err
		}
		s.opt.OnCache("miss")
	}

	// Concurrent lookups of the same credentials share one upstream call.
	// It runs on its own deadline, so one caller giving up does not fail
	// the others.
	ch := s.group.DoChan(key, func() (any, error) {
		if s.slots != nil {
			select {
			case s.slots <- struct{}{}:
				defer func() { <-s.slots }()
			default:
				s.opt.OnUpstream("overloaded", 0)
				return nil, fmt.Errorf("%w: %d session lookups already in flight", ErrUnavailable, cap(s.slots))
			}
		}
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.Timeout)
		defer cancel()
		start := time.Now()
		doc, err := s.fetch(callCtx, credentials)
		s.opt.OnUpstream(outcome(err), time.Since(start))
		if s.positive != nil {
			switch {
			case err == nil:
				s.positive.Add(key, doc, s.opt.CacheTTL)
			case isUnauthenticated(err):
				s.negative.Add(key, err, min(s.opt.CacheTTL, maxNegativeTTL))
			}
		}
		return doc, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(Document), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// outcome names an upstream call's result for metrics.
func outcome(err error) string {
	var retry *UnavailableError
	switch {
	case err == nil:
		return "ok"
	case isUnauthenticated(err):
		return "unauthenticated"
	case errors.As(err, &retry):
		return "rate_limited"
	}
	return "unavailable"
}

// cacheKey is a SHA-256 of the forwarded credentials: the cache never holds
// a raw cookie or token.
func cacheKey(h http.Header) string {
	sum := sha256.New()
	_ = h.Write(sum) // sorted by name; a hash.Hash never fails to write
	return string(sum.Sum(nil))
}

func isUnauthenticated(err error) bool {
	_, ok := err.(*unauthenticatedError)
	return ok
}

// unauthenticatedError is the upstream saying "not signed in".
type unauthenticatedError struct{ reason string }

func (e *unauthenticatedError) Error() string { return ErrUnauthenticated.Error() + ": " + e.reason }
func (e *unauthenticatedError) Unwrap() error { return ErrUnauthenticated }

func (s *Introspect) fetch(ctx context.Context, credentials http.Header) (Document, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opt.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: building the upstream request: %v", ErrUnavailable, err)
	}
	for name, vs := range credentials {
		req.Header[name] = vs
	}
	req.Header.Set("Accept", "application/json")

	resp, err := s.client.Do(req)
	if err != nil {
		// The error text names the URL but never the forwarded headers.
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer func() {
		// Draining a little lets the connection be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4096)
		_ = resp.Body.Close()
	}()

	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		return nil, &unauthenticatedError{reason: fmt.Sprintf("upstream answered %d", resp.StatusCode)}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, &unauthenticatedError{reason: fmt.Sprintf("upstream redirected (%d)", resp.StatusCode)}
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, &UnavailableError{RetryAfter: retryAfter(resp.Header.Get("Retry-After")), Reason: "upstream answered 429"}
	default:
		return nil, fmt.Errorf("%w: upstream answered %d", ErrUnavailable, resp.StatusCode)
	}

	doc, err := decodeDocument(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: upstream 200 body: %v", ErrUnavailable, err)
	}
	return doc, nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), bounded.
func retryAfter(v string) time.Duration {
	d := defaultRetryAfter
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, time.Second), maxRetryAfter)
}

// decodeDocument reads exactly one JSON object, keeping numbers exact.
func decodeDocument(r io.Reader) (Document, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if doc == nil {
		return nil, fmt.Errorf("not a JSON object: null")
	}
	if dec.InputOffset() > maxDocumentBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxDocumentBytes)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON object")
	}
	return doc, nil
}

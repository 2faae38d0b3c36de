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
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/chattoken/chattoken/internal/cache"
	"github.com/chattoken/chattoken/internal/jsondoc"
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

// entryWeight approximates what a cache entry costs besides its value: the
// key (a SHA-256 in a string), the LRU's list element and map slot, and the
// expiry.
const entryWeight = 160

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
	// CacheBytes bounds the estimated memory of both caches together: an
	// eighth for signed-out answers, the rest for session documents. 0
	// bounds the number of entries only.
	CacheBytes int64
	// Keep lists the paths the service reads from a session document (the
	// subject, the identity claims, the session context variables). A
	// fetched document is cut down to them before it is cached or
	// returned, so that a large upstream answer costs memory only for what
	// is used. Nil keeps whole documents.
	Keep []jsondoc.Path
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
	positive *cache.TTL[string, jsondoc.Document]
	negative *cache.TTL[string, error]
	// slots holds one token per upstream call in flight.
	slots chan struct{}
	// safeURL is the upstream as errors name it: scheme, host and path,
	// never the user info or query, which may hold secrets.
	safeURL string
	// noCredentials answers a request that carries none of opt.Headers.
	noCredentials error
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
	if opt.Keep != nil {
		// Shorter paths first: an object kept as a placeholder (see
		// project) is then filled, not overwritten, by a longer path
		// through it.
		opt.Keep = slices.Clone(opt.Keep)
		slices.SortStableFunc(opt.Keep, func(a, b jsondoc.Path) int { return len(a) - len(b) })
	}
	s.opt = opt
	s.safeURL = "the introspection URL"
	if u, ok := RedactURL(opt.URL); ok {
		s.safeURL = u
	}
	s.noCredentials = &unauthenticatedError{reason: "the request carries none of " + strings.Join(opt.Headers, ", ")}
	if opt.MaxConcurrent > 0 {
		s.slots = make(chan struct{}, opt.MaxConcurrent)
	}
	if opt.CacheTTL > 0 {
		// Signed-out answers are small and of one size; their share keeps a
		// flood of unknown cookies from pushing out signed-in sessions'
		// budget.
		negativeBytes := opt.CacheBytes / 8
		s.positive = cache.NewWeighted(opt.CacheSize, opt.CacheBytes-negativeBytes, weighDocument)
		s.negative = cache.NewWeighted(opt.CacheSize, negativeBytes, weighError)
	}
	return s
}

// RedactURL is raw with only its scheme, host and path: what a log line or a
// span may say of a URL that can carry credentials in its user info or
// query. A URL that does not parse (a value cut short, say) is refused
// whole, since where its secrets are cannot be known.
func RedactURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String(), true
}

func weighDocument(key string, doc jsondoc.Document) int64 {
	return entryWeight + int64(len(key)) + valueWeight(map[string]any(doc))
}

func weighError(key string, err error) int64 {
	// The error value: its interface, struct and reason text.
	return entryWeight + int64(len(key)) + 48 + int64(len(err.Error()))
}

// valueWeight estimates the bytes a decoded JSON value holds: the values
// themselves and, roughly, Go's headers and map slots around them.
func valueWeight(v any) int64 {
	const iface, header, slot = 16, 24, 48
	switch v := v.(type) {
	case map[string]any:
		n := int64(slot)
		for k, x := range v {
			n += slot + int64(len(k)) + valueWeight(x)
		}
		return n
	case []any:
		n := int64(header)
		for _, x := range v {
			n += valueWeight(x)
		}
		return n
	case string:
		return iface + header + int64(len(v))
	case json.Number:
		return iface + header + int64(len(v))
	}
	return iface
}

// project returns what keep reads from doc. For an object or array found
// at a kept path it holds an empty one of the same kind: such a value is
// refused wherever a path is read, and the refusal names its kind, so
// answers stay the same without the cache holding what it contains. The
// paths are sorted shortest first (NewIntrospect).
func project(doc jsondoc.Document, keep []jsondoc.Path) jsondoc.Document {
	out := jsondoc.Document{}
	for _, p := range keep {
		v, ok := doc.Get(p)
		if !ok {
			continue
		}
		switch v.(type) {
		case map[string]any:
			out.Set(p, map[string]any{})
		case []any:
			out.Set(p, []any{})
		default:
			out.Set(p, v)
		}
	}
	return out
}

// Lookup implements Source.
func (s *Introspect) Lookup(ctx context.Context, r *http.Request) (jsondoc.Document, error) {
	credentials := make(http.Header, len(s.opt.Headers))
	for _, name := range s.opt.Headers {
		if vs := slices.DeleteFunc(slices.Clone(r.Header.Values(name)), isBlank); len(vs) > 0 {
			credentials[name] = vs
		}
	}
	if len(credentials) == 0 {
		// Nobody to ask about: the upstream is not called, so a flood of
		// anonymous requests costs it nothing.
		return nil, s.noCredentials
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
		return res.Val.(jsondoc.Document), nil
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

func isBlank(v string) bool { return strings.TrimSpace(v) == "" }

func isUnauthenticated(err error) bool {
	_, ok := err.(*unauthenticatedError)
	return ok
}

// unauthenticatedError is the upstream saying "not signed in".
type unauthenticatedError struct{ reason string }

func (e *unauthenticatedError) Error() string { return ErrUnauthenticated.Error() + ": " + e.reason }
func (e *unauthenticatedError) Unwrap() error { return ErrUnauthenticated }

func (s *Introspect) fetch(ctx context.Context, credentials http.Header) (jsondoc.Document, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opt.URL, nil)
	if err != nil {
		return nil, s.unavailable("building the request: %v", withoutURL(err))
	}
	for name, vs := range credentials {
		req.Header[name] = vs
	}
	req.Header.Set("Accept", "application/json")

	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.unavailable("%v", withoutURL(err))
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
		return nil, &UnavailableError{RetryAfter: retryAfter(resp.Header.Get("Retry-After")), Reason: "GET " + s.safeURL + ": upstream answered 429"}
	default:
		return nil, s.unavailable("upstream answered %d", resp.StatusCode)
	}

	doc, err := jsondoc.Decode(io.LimitReader(resp.Body, maxDocumentBytes+1), maxDocumentBytes)
	if err != nil {
		return nil, s.unavailable("upstream 200 body: %v", err)
	}
	if s.opt.Keep != nil {
		doc = project(doc, s.opt.Keep)
	}
	return doc, nil
}

// unavailable is an ErrUnavailable naming the upstream by its safe URL, so
// that a log says which backend failed without repeating its secrets.
func (s *Introspect) unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: GET %s: %s", ErrUnavailable, s.safeURL, fmt.Sprintf(format, args...))
}

// withoutURL drops the *url.Error around err: its text repeats the whole
// URL, user info and query included, for every failure of the client (a
// refused connection, a timeout). The caller names the URL safely instead.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
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

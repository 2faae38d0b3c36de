package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// maxDocumentBytes bounds what is read from the upstream, so a broken
// endpoint cannot make the service buffer an unbounded body.
const maxDocumentBytes = 1 << 20

// forwardedHeaders are the only request headers the upstream sees: enough to
// identify the session, nothing else the browser sent.
var forwardedHeaders = []string{"Cookie", "Authorization"}

// Introspect asks the site's own "who am I" endpoint about each request.
type Introspect struct {
	url     string
	timeout time.Duration
	client  *http.Client
}

var _ Source = (*Introspect)(nil)

// NewIntrospect returns a Source that calls url with GET, forwarding the
// request's Cookie and Authorization headers, and gives up after timeout.
func NewIntrospect(url string, timeout time.Duration) *Introspect {
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &Introspect{
		url:     url,
		timeout: timeout,
		client: &http.Client{
			Transport: transport,
			// A signed-out user is often redirected to a login page: that
			// redirect is the answer, so it is never followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Lookup implements Source.
func (s *Introspect) Lookup(ctx context.Context, r *http.Request) (Document, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: building the upstream request: %v", ErrUnavailable, err)
	}
	for _, name := range forwardedHeaders {
		for _, v := range r.Header.Values(name) {
			req.Header.Add(name, v)
		}
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
		return nil, fmt.Errorf("%w: upstream answered %d", ErrUnauthenticated, resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, fmt.Errorf("%w: upstream redirected (%d)", ErrUnauthenticated, resp.StatusCode)
	default:
		return nil, fmt.Errorf("%w: upstream answered %d", ErrUnavailable, resp.StatusCode)
	}

	doc, err := decodeDocument(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: upstream 200 body: %v", ErrUnavailable, err)
	}
	return doc, nil
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

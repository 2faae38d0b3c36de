package session

import (
	"context"
	"fmt"
	"net/http"

	"github.com/chattoken/chattoken/internal/clientip"
	"github.com/chattoken/chattoken/internal/jsondoc"
)

// Header trusts a reverse proxy that has already authenticated the user
// (oauth2-proxy, nginx auth_request, Pomerium) and passes who it is in
// headers. The headers are believed only from a trusted proxy: from any
// other peer they could be forged by anyone.
type Header struct {
	trusted clientip.Trusted
	// subject and claims put the value of the request header Name at Path
	// of the document.
	subject jsondoc.Field
	claims  []jsondoc.Field
}

var _ Source = (*Header)(nil)

// NewHeader returns a Source reading the subject from subjectHeader (placed
// at subjectPath) and the rest of the document from claims, each the value
// of the header Name placed at Path.
func NewHeader(trusted clientip.Trusted, subjectPath jsondoc.Path, subjectHeader string, claims []jsondoc.Field) *Header {
	return &Header{trusted: trusted, subject: jsondoc.Field{Name: subjectHeader, Path: subjectPath}, claims: claims}
}

// Lookup implements Source.
func (s *Header) Lookup(_ context.Context, r *http.Request) (jsondoc.Document, error) {
	if !s.trusted.PeerTrusted(r) {
		return nil, fmt.Errorf("%w: identity headers from an untrusted peer %s are ignored", ErrUnauthenticated, r.RemoteAddr)
	}
	sub, err := single(r, s.subject.Name)
	if err != nil {
		return nil, err
	}
	if sub == "" {
		return nil, fmt.Errorf("%w: the trusted proxy sent no %s", ErrUnauthenticated, s.subject.Name)
	}
	doc := jsondoc.Document{}
	for _, c := range s.claims {
		v, err := single(r, c.Name)
		if err != nil {
			return nil, err
		}
		if v != "" {
			doc.Set(c.Path, v)
		}
	}
	doc.Set(s.subject.Path, sub)
	return doc, nil
}

// single returns the one value of an identity header. A header that appears
// more than once is refused: a proxy that appends its value instead of
// replacing the client's leaves the client's first, so no copy can be
// believed.
func single(r *http.Request, name string) (string, error) {
	switch vs := r.Header.Values(name); len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	default:
		return "", fmt.Errorf("%w: %s appears %d times; the proxy must replace it, not append to it", ErrUnauthenticated, name, len(vs))
	}
}

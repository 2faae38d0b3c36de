package session

import (
	"context"
	"fmt"
	"net/http"

	"github.com/chattoken/chattoken/internal/clientip"
)

// HeaderClaim puts the value of a request header at a path of the document.
type HeaderClaim struct {
	Path   Path
	Header string
}

// Header trusts a reverse proxy that has already authenticated the user
// (oauth2-proxy, nginx auth_request, Pomerium) and passes who it is in
// headers. The headers are believed only from a trusted proxy: from any
// other peer they could be forged by anyone.
type Header struct {
	trusted clientip.Trusted
	subject HeaderClaim
	claims  []HeaderClaim
}

var _ Source = (*Header)(nil)

// NewHeader returns a Source reading the subject from subjectHeader (placed
// at subjectPath) and the rest of the document from claims.
func NewHeader(trusted clientip.Trusted, subjectPath Path, subjectHeader string, claims []HeaderClaim) *Header {
	return &Header{trusted: trusted, subject: HeaderClaim{Path: subjectPath, Header: subjectHeader}, claims: claims}
}

// Lookup implements Source.
func (s *Header) Lookup(_ context.Context, r *http.Request) (Document, error) {
	if !s.trusted.PeerTrusted(r) {
		return nil, fmt.Errorf("%w: identity headers from an untrusted peer %s are ignored", ErrUnauthenticated, r.RemoteAddr)
	}
	sub := r.Header.Get(s.subject.Header)
	if sub == "" {
		return nil, fmt.Errorf("%w: the trusted proxy sent no %s", ErrUnauthenticated, s.subject.Header)
	}
	doc := Document{}
	for _, c := range s.claims {
		if v := r.Header.Get(c.Header); v != "" {
			doc.Set(c.Path, v)
		}
	}
	doc.Set(s.subject.Path, sub)
	return doc, nil
}

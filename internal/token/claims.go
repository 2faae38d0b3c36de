package token

import (
	"errors"
	"fmt"
	"strings"

	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/session"
)

// ErrSessionDocument means the session document breaks the contract the
// operator configured: no usable subject, or an identity claim that is not
// a primitive. The upstream is at fault, not the browser.
var ErrSessionDocument = errors.New("the session document does not fit the configuration")

// IdentityClaim copies the session document's value at Path into the token's
// claim Claim.
type IdentityClaim struct {
	Claim string
	Path  session.Path
}

// reservedClaims are set by chattoken itself; an identity claim may not
// replace them, or the session document could choose its own expiry or
// subject.
var reservedClaims = map[string]bool{
	"sub": true, "iss": true, "iat": true, "nbf": true, "exp": true,
	"jti": true, "aud": true, "lwicontexts": true,
}

// ParseIdentityClaims parses comma-separated claim=path pairs.
func ParseIdentityClaims(list string) ([]IdentityClaim, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var claims []IdentityClaim
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(list, ",") {
		claim, path, ok := strings.Cut(strings.TrimSpace(pair), "=")
		claim, path = strings.TrimSpace(claim), strings.TrimSpace(path)
		switch {
		case !ok || claim == "":
			return nil, fmt.Errorf("%q is not claim=path", pair)
		case reservedClaims[claim]:
			return nil, fmt.Errorf("claim %q is set by chattoken itself and cannot be copied from the session", claim)
		case seen[claim]:
			return nil, fmt.Errorf("claim %q is listed twice", claim)
		}
		p, err := session.ParsePath(path)
		if err != nil {
			return nil, fmt.Errorf("claim %q: %v", claim, err)
		}
		seen[claim] = true
		claims = append(claims, IdentityClaim{Claim: claim, Path: p})
	}
	return claims, nil
}

// Assembler turns a session document and the request's checked context into
// what a token says: the same steps for the HTTP API and the mint command.
type Assembler struct {
	Subject  session.Path
	Identity []IdentityClaim
	Context  *lwicontext.Schema
}

// Request builds the token request. Its errors wrap ErrSessionDocument or
// are a *lwicontext.InvalidError.
func (a *Assembler) Request(doc session.Document, rv lwicontext.RequestValues) (Request, error) {
	v, _ := doc.Get(a.Subject)
	sub, ok := v.(string)
	if !ok || sub == "" {
		// No token is ever minted without a real subject.
		return Request{}, fmt.Errorf("%w: the subject at %q is %s", ErrSessionDocument, a.Subject, session.Kind(v))
	}
	var identity map[string]any
	for _, c := range a.Identity {
		v, ok := doc.Get(c.Path)
		if !ok {
			continue
		}
		if !session.IsPrimitive(v) {
			return Request{}, fmt.Errorf("%w: identity claim %q at %q is %s", ErrSessionDocument, c.Claim, c.Path, session.Kind(v))
		}
		if identity == nil {
			identity = make(map[string]any, len(a.Identity))
		}
		identity[c.Claim] = v
	}
	context, err := a.Context.Build(doc, rv)
	if err != nil {
		return Request{}, err
	}
	return Request{Subject: sub, Identity: identity, Context: context}, nil
}

package token

import (
	"errors"
	"fmt"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/lwicontext"
)

// ErrSessionDocument means the session document breaks the contract the
// operator configured: no usable subject, or an identity claim that is not
// a primitive. The upstream is at fault, not the browser.
var ErrSessionDocument = errors.New("the session document does not fit the configuration")

// Assembler turns a session document and the request's checked context into
// what a token says: the same steps for the HTTP API and the mint command.
type Assembler struct {
	Subject jsondoc.Path
	// SubjectGUID requires the subject to be a GUID, as a Dataverse contact
	// or account id is: Omnichannel links a chat to the record whose id is
	// the sub, so anything else means the upstream sends the wrong id.
	SubjectGUID bool
	// Identity copies the session value at each Path into the claim Name.
	Identity []jsondoc.Field
	// Context is the context schema file: the caller looks up the schema
	// of the widget a request names and passes it to Request.
	Context *lwicontext.Widgets
}

// Request builds the token request from the session document and the
// request's values, checked by schema (one of a.Context's). Its errors wrap
// ErrSessionDocument or are a *lwicontext.InvalidError.
func (a *Assembler) Request(doc jsondoc.Document, schema *lwicontext.Schema, rv lwicontext.RequestValues) (Request, error) {
	v, _ := doc.Get(a.Subject)
	sub, ok := v.(string)
	if !ok || sub == "" {
		// No token is ever minted without a real subject.
		return Request{}, fmt.Errorf("%w: the subject at %q is %s", ErrSessionDocument, a.Subject, jsondoc.Kind(v))
	}
	if a.SubjectGUID && !IsGUID(sub) {
		return Request{}, fmt.Errorf("%w: the subject at %q is not a GUID (8-4-4-4-12 hex digits), as CHATTOKEN_SUBJECT_FORMAT=guid requires", ErrSessionDocument, a.Subject)
	}
	var identity map[string]any
	for _, c := range a.Identity {
		v, ok := doc.Get(c.Path)
		if !ok {
			continue
		}
		if !jsondoc.IsPrimitive(v) {
			return Request{}, fmt.Errorf("%w: identity claim %q at %q is %s", ErrSessionDocument, c.Name, c.Path, jsondoc.Kind(v))
		}
		if identity == nil {
			identity = make(map[string]any, len(a.Identity))
		}
		identity[c.Name] = v
	}
	context, err := schema.Build(doc, rv)
	if err != nil {
		return Request{}, err
	}
	return Request{Subject: sub, Identity: identity, Context: context}, nil
}

// IsGUID reports whether s is a GUID in its usual text form: 8-4-4-4-12
// hexadecimal digits, either case, without braces.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

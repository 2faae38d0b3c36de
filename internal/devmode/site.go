package devmode

// The demo "site": an in-memory sign-in that gives a newcomer a session, and
// a demo context schema. It stands in for the real site that a production
// deployment asks who is signed in.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/go-json-experiment/json/jsontext"
)

// CookieName is the demo session cookie.
const CookieName = "chattoken_dev_session"

// maxSessions bounds the store; the oldest session is forgotten first.
const maxSessions = 1000

// Schema is the demo context schema: one variable of each source, and the
// Name and Email that Omnichannel's customer identification searches
// contacts by.
const Schema = `{
  "encoding": "string",
  "variables": {
    "msdyn_cartvalue": {"type": "number",  "source": "session", "field": "cart.total"},
    "msdyn_isvip":     {"type": "boolean", "source": "session", "field": "vip", "required": true},
    "msdyn_pageurl":   {"type": "text",    "source": "request", "max_length": 2048},
    "msdyn_channel":   {"type": "text",    "source": "static",  "value": "web"},
    "Name":            {"type": "text",    "source": "session", "field": "name"},
    "Email":           {"type": "text",    "source": "session", "field": "email"}
  }
}`

// IdentityClaims are the claims dev mode copies from the demo document.
const IdentityClaims = "email=email,given_name=name"

// SignIn is the demo sign-in form.
type SignIn struct {
	Name string `json:"name"`
	// CartTotal is the number as written, so that every digit is kept.
	CartTotal jsontext.Value `json:"cart_total"`
	VIP       bool           `json:"vip"`
}

// Store holds the demo sessions in memory.
type Store struct {
	mu       sync.Mutex
	sessions map[string]jsondoc.Document
	order    []string
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{sessions: map[string]jsondoc.Document{}}
}

// SignIn checks the form and starts a session, returning its id (the cookie
// value) and the session document.
func (s *Store) SignIn(form SignIn) (string, jsondoc.Document, error) {
	name := strings.TrimSpace(form.Name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return "", nil, errors.New("name must be 1 to 100 characters")
	}
	total := json.Number("0")
	if len(form.CartTotal) > 0 {
		total = json.Number(form.CartTotal)
	}
	if _, err := total.Float64(); err != nil || (len(form.CartTotal) > 0 && form.CartTotal.Kind() != '0') || strings.HasPrefix(string(total), "-") {
		return "", nil, fmt.Errorf("cart_total must be a number of at least 0")
	}
	// The subject is a GUID derived from the name, so signing in again as
	// the same person gives the same sub, as a Dataverse contact id would.
	sum := sha256.Sum256([]byte(strings.ToLower(name)))
	doc := jsondoc.Document{
		"sub":   demoGUID(sum),
		"name":  name,
		"email": emailLocalPart(name) + "@example.com",
		"cart":  map[string]any{"total": total},
		"vip":   form.VIP,
	}
	var raw [18]byte
	_, _ = rand.Read(raw[:])
	id := base64.RawURLEncoding.EncodeToString(raw[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) >= maxSessions {
		delete(s.sessions, s.order[0])
		s.order = s.order[1:]
	}
	s.sessions[id] = doc
	s.order = append(s.order, id)
	return id, doc, nil
}

// Lookup returns the session document for a cookie value.
func (s *Store) Lookup(id string) (jsondoc.Document, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc, ok := s.sessions[id]
	return doc, ok
}

// SignOut ends a session.
func (s *Store) SignOut(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; !ok {
		return
	}
	delete(s.sessions, id)
	for i, v := range s.order {
		if v == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}

func emailLocalPart(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '.' || r == '-':
			b.WriteByte('.')
		}
	}
	if b.Len() == 0 {
		return "demo"
	}
	return strings.Trim(b.String(), ".")
}

// demoGUID formats the first 16 bytes of sum as a GUID (RFC 9562 version 8,
// the version for custom ids), the form of a Dataverse contact id.
func demoGUID(sum [32]byte) string {
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

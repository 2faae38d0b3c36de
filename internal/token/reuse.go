package token

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/chattoken/chattoken/internal/cache"
)

// ReuseFraction is the share of a token's lifetime during which it is handed
// out again: a session asking twice in quick succession gets the token it
// already has while at least 90% of its lifetime remains, without a second
// signature.
const ReuseFraction = 10

// Reuse remembers recently minted tokens by a hash of everything they say
// (signing key, subject, identity claims, context). It is bounded and is
// emptied whenever the signing key changes. The widget that asked is not
// part of the key: a token does not name its widget, so when two widgets'
// context comes out the same, the token of one says exactly what a new
// token for the other would; widgets whose context differs never share one.
type Reuse struct {
	mu     sync.Mutex
	kid    string
	window time.Duration
	tokens *cache.TTL[[sha256.Size]byte, Token]
}

// NewReuse remembers at most size tokens of lifetime ttl.
func NewReuse(size int, ttl time.Duration) *Reuse {
	window := ttl / ReuseFraction
	return &Reuse{window: window, tokens: cache.New[[sha256.Size]byte, Token](size)}
}

// get returns a remembered token for req signed by kid that still has at
// least 90% of its lifetime at now.
func (r *Reuse) get(kid string, req Request, now time.Time, ttl time.Duration) (Token, bool) {
	key := reuseKey(kid, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.switchKey(kid)
	tok, ok := r.tokens.Get(key)
	if !ok || tok.ExpiresAt.Sub(now) < ttl-r.window {
		return Token{}, false
	}
	return tok, true
}

func (r *Reuse) put(kid string, req Request, tok Token) {
	key := reuseKey(kid, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.switchKey(kid)
	r.tokens.Add(key, tok, r.window)
}

// switchKey forgets every token when the signing key changes; r.mu is held.
func (r *Reuse) switchKey(kid string) {
	if kid != r.kid {
		r.tokens.Purge()
		r.kid = kid
	}
}

// reuseKey hashes what a token says, each field length-prefixed so that no
// two different requests can collide by shifting bytes between fields.
func reuseKey(kid string, req Request) [sha256.Size]byte {
	h := sha256.New()
	write := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	write(kid)
	write(req.Subject)
	write(req.Context)
	names := make([]string, 0, len(req.Identity))
	for k := range req.Identity {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		write(k)
		write(fmt.Sprintf("%T:%v", req.Identity[k], req.Identity[k]))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// Package token assembles and signs the chat token: the registered claims
// Omnichannel requires, the identity claims copied from the session, and
// lwicontexts.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/keys"
)

// Request is what varies from one token to the next.
type Request struct {
	Subject string
	// Identity holds extra claims (email, given_name, ...) whose values are
	// primitives.
	Identity map[string]any
	// Context is the serialized lwicontexts claim; empty leaves it out.
	Context string
}

// Token is a signed token and what the access log records about it.
type Token struct {
	Raw       string
	ID        string
	Alg       string
	KID       string
	ExpiresAt time.Time
	// Reused is true when the token was minted earlier for the same
	// request and handed out again.
	Reused bool
}

// Minter signs tokens with the current signing key.
type Minter struct {
	Issuer    string
	TTL       time.Duration
	ClockSkew time.Duration
	// Keys returns the key set to sign with. It is called once per token, so
	// a key reload takes effect on the next token.
	Keys func() *keys.Set
	// Now returns the current time; tests may fix it.
	Now func() time.Time
	// Reuse, when set, hands out a recent token again instead of signing a
	// new one for the same request.
	Reuse *Reuse

	// header is the encoded token header of the last key set Mint saw.
	header atomic.Pointer[setHeader]
}

// setHeader is the token header segment of one key set's signing key.
type setHeader struct {
	set     *keys.Set
	encoded string
}

// headerFor returns the token header segment for set, encoded when the
// minter first sees the set: a key reload makes a new set, every token
// after it reuses the one encoding.
func (m *Minter) headerFor(set *keys.Set) string {
	if h := m.header.Load(); h != nil && h.set == set {
		return h.encoded
	}
	h := &setHeader{set: set, encoded: encodeHeader(set.Signer)}
	m.header.Store(h)
	return h.encoded
}

// encodeHeader encodes the JWT header for key, JSON then base64url:
// {"alg":...,"kid":...,"typ":"JWT"}, without kid when the key has none.
func encodeHeader(key keys.SigningKey) string {
	h := map[string]string{"alg": key.Method.Alg(), "typ": "JWT"}
	if key.KID != "" {
		h["kid"] = key.KID
	}
	data, _ := json.Marshal(h) // a map of strings always encodes
	return base64.RawURLEncoding.EncodeToString(data)
}

// Mint builds and signs a token for req.
func (m *Minter) Mint(req Request) (Token, error) {
	if req.Subject == "" {
		return Token{}, errors.New("refusing to mint a token without a subject")
	}
	set := m.Keys()
	if m.Reuse != nil {
		if tok, ok := m.Reuse.get(set.Signer.KID, req, m.Now(), m.TTL); ok {
			tok.Reused = true
			return tok, nil
		}
	}
	jti := newID()
	now := m.Now().Truncate(time.Second)
	exp := now.Add(m.TTL)
	raw, err := sign(set.Signer, m.headerFor(set), payload{
		sub: req.Subject, iss: m.Issuer, jti: jti, context: req.Context,
		iat: now.Unix(), nbf: now.Add(-m.ClockSkew).Unix(), exp: exp.Unix(),
		identity: req.Identity,
	})
	if err != nil {
		return Token{}, err
	}
	set.Signer.MarkUsed(now)
	tok := Token{Raw: raw, ID: jti, Alg: set.Signer.Method.Alg(), KID: set.Signer.KID, ExpiresAt: exp}
	if m.Reuse != nil {
		m.Reuse.put(set.Signer.KID, req, tok)
	}
	return tok, nil
}

// sign assembles header.payload.signature from the encoded header segment;
// golang-jwt's signing method signs.
func sign(key keys.SigningKey, header string, p payload) (string, error) {
	var scratch [512]byte
	claims, err := appendPayload(scratch[:0], p)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 0, len(header)+1+b64.EncodedLen(len(claims))+1+b64.EncodedLen(512))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = appendBase64(buf, claims)
	sig, err := key.Method.Sign(string(buf), key.Private)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	buf = append(buf, '.')
	buf = appendBase64(buf, sig)
	return string(buf), nil
}

// SelfTest mints a token and verifies it with the public half of the key,
// so a key that cannot produce a valid token stops the service at start
// rather than at the first chat.
func (m *Minter) SelfTest() error {
	tok, err := m.Mint(Request{Subject: "chattoken-self-test"})
	if err != nil {
		return err
	}
	set := m.Keys()
	parsed, err := jwt.Parse(tok.Raw,
		func(*jwt.Token) (any, error) { return set.Signer.Public, nil },
		jwt.WithValidMethods([]string{set.Signer.Method.Alg()}),
		jwt.WithIssuer(m.Issuer),
		jwt.WithSubject("chattoken-self-test"),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(m.Now),
	)
	if err != nil {
		return fmt.Errorf("self-test token does not verify: %w", err)
	}
	if kid, _ := parsed.Header["kid"].(string); kid != set.Signer.KID {
		return fmt.Errorf("self-test token has kid %q, want %q", kid, set.Signer.KID)
	}
	return nil
}

// newID returns 128 random bits, base64url-encoded, for the jti claim.
// crypto/rand.Read never fails: it aborts the program instead.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

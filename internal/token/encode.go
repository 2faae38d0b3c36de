package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/chattoken/chattoken/internal/jsondoc"
)

// payload is the claims of one token.
type payload struct {
	sub, iss, jti, context string
	iat, nbf, exp          int64
	identity               map[string]any
}

// appendPayload appends p to b as compact JSON: a map through
// encoding/json, so the claims come out sorted by name.
func appendPayload(b []byte, p payload) ([]byte, error) {
	claims := make(map[string]any, len(p.identity)+7)
	for k, v := range p.identity {
		// The registered claims are chattoken's: never duplicated or
		// replaced (parsers disagree on which of two equal keys wins).
		if jsondoc.TokenClaims[k] {
			continue
		}
		if !jsondoc.IsPrimitive(v) {
			return nil, fmt.Errorf("identity claim %q is %s, not a primitive", k, jsondoc.Kind(v))
		}
		claims[k] = v
	}
	claims["sub"], claims["iss"], claims["jti"] = p.sub, p.iss, p.jti
	claims["iat"], claims["nbf"], claims["exp"] = p.iat, p.nbf, p.exp
	if p.context != "" {
		claims["lwicontexts"] = p.context
	}
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	// <, > and & are safe in a token; escaping them would only lengthen it.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(claims); err != nil {
		return nil, fmt.Errorf("encoding the claims: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

var b64 = base64.RawURLEncoding

// appendBase64 appends the base64url encoding of src.
func appendBase64(b, src []byte) []byte {
	n := len(b)
	b = append(b, make([]byte, b64.EncodedLen(len(src)))...)
	b64.Encode(b[n:], src)
	return b
}

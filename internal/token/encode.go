package token

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/chattoken/chattoken/internal/jsondoc"
	"github.com/chattoken/chattoken/internal/jsonstr"
)

// The payload is written by hand rather than through encoding/json and a
// claims map: every token has the same few claims, and this keeps minting
// to a handful of allocations besides the signature itself. The output is
// ordinary compact JSON; every test verifies tokens with golang-jwt and
// independent libraries.

// payload is the claims of one token.
type payload struct {
	sub, iss, jti, context string
	iat, nbf, exp          int64
	identity               map[string]any
}

// appendPayload appends p as a JSON object, keys in a fixed order.
func appendPayload(b []byte, p payload) ([]byte, error) {
	b = append(b, '{')
	if len(p.identity) > 0 {
		names := make([]string, 0, len(p.identity))
		for k := range p.identity {
			// The registered claims are chattoken's: never duplicated
			// (parsers disagree on which of two equal keys wins).
			if !jsondoc.TokenClaims[k] {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			b = jsonstr.Append(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendPrimitive(b, p.identity[k]); err != nil {
				return nil, fmt.Errorf("identity claim %q: %w", k, err)
			}
			b = append(b, ',')
		}
	}
	b = append(b, `"exp":`...)
	b = strconv.AppendInt(b, p.exp, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, p.iat, 10)
	b = append(b, `,"iss":`...)
	b = jsonstr.Append(b, p.iss)
	b = append(b, `,"jti":`...)
	b = jsonstr.Append(b, p.jti)
	if p.context != "" {
		b = append(b, `,"lwicontexts":`...)
		b = jsonstr.Append(b, p.context)
	}
	b = append(b, `,"nbf":`...)
	b = strconv.AppendInt(b, p.nbf, 10)
	b = append(b, `,"sub":`...)
	b = jsonstr.Append(b, p.sub)
	return append(b, '}'), nil
}

// appendPrimitive appends a session value: a string, a json.Number (already
// valid JSON) or a boolean.
func appendPrimitive(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return jsonstr.Append(b, v), nil
	case json.Number:
		if !json.Valid([]byte(v)) {
			return nil, fmt.Errorf("%q is not a JSON number", string(v))
		}
		return append(b, v...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case float64:
		return strconv.AppendFloat(b, v, 'f', -1, 64), nil
	}
	return nil, fmt.Errorf("a %T is not a primitive", v)
}

var b64 = base64.RawURLEncoding

// appendBase64 appends the base64url encoding of src.
func appendBase64(b, src []byte) []byte {
	n := len(b)
	b = append(b, make([]byte, b64.EncodedLen(len(src)))...)
	b64.Encode(b[n:], src)
	return b
}

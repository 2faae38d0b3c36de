// Package jsondoc is the common language of the packages that read a
// signed-in user's session: the session Document (a JSON object), the dotted
// Path that points into it, the Field that names a value read from a path,
// the kinds of JSON value, and the media type a JWT's typ names (which the
// configuration checks and the jwt session source compares). It imports
// nothing of chattoken's, so that configuration, session sources, the
// context schema, the token and inspect can all speak it without depending
// on each other.
package jsondoc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// Document is the signed-in user's session as a JSON object. Numbers are
// json.Number, so that large identifiers and amounts keep every digit.
type Document map[string]any

// Path is a parsed dotted path such as "profile.email".
type Path []string

// ParsePath parses a dotted path: one or more non-empty names separated by
// dots. It is done once at start so that requests only walk the result.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return nil, errors.New("the path is empty")
	}
	p := Path(strings.Split(s, "."))
	for _, part := range p {
		if part == "" {
			return nil, fmt.Errorf("path %q has an empty segment", s)
		}
	}
	return p, nil
}

func (p Path) String() string { return strings.Join(p, ".") }

// Get returns the value at p. A missing member, a walk through something
// that is not an object, and a JSON null are all reported as absent.
func (d Document) Get(p Path) (any, bool) {
	var cur any = map[string]any(d)
	for _, name := range p {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[name]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// Set puts v at p, creating the objects on the way; a non-object in the way
// is replaced.
func (d Document) Set(p Path, v any) {
	obj := map[string]any(d)
	for _, name := range p[:len(p)-1] {
		next, ok := obj[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[name] = next
		}
		obj = next
	}
	obj[p[len(p)-1]] = v
}

// Kind names the JSON type of a value from a Document (or any JSON decoded
// with UseNumber) for messages, without repeating the value itself.
func Kind(v any) string {
	switch v := v.(type) {
	case nil:
		return "absent"
	case string:
		if v == "" {
			return "an empty string"
		}
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any, Document:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// IsPrimitive reports whether v, a value from a Document, is a string, a
// number or a boolean.
func IsPrimitive(v any) bool {
	switch v.(type) {
	case string, json.Number, bool:
		return true
	}
	return false
}

// Decode reads exactly one JSON object of at most maxBytes, keeping numbers
// exact (json.Number).
func Decode(r io.Reader, maxBytes int64) (Document, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if doc == nil {
		return nil, errors.New("not a JSON object: null")
	}
	if dec.InputOffset() > maxBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxBytes)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return doc, nil
}

// Field names a value read from the document at Path: a token claim copied
// from the session, or a request header placed into it.
type Field struct {
	Name string
	Path Path
}

// ParseFields parses comma-separated name=path pairs (surrounding spaces
// ignored, no name twice); noun says in messages what a name is ("claim").
// An empty list is no fields.
func ParseFields(list, noun string) ([]Field, error) {
	var fields []Field
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		name, path, ok := strings.Cut(strings.TrimSpace(pair), "=")
		name, path = strings.TrimSpace(name), strings.TrimSpace(path)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%q is not %s=path", pair, noun)
		case seen[name]:
			return nil, fmt.Errorf("%s %q is listed twice", noun, name)
		}
		p, err := ParsePath(path)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %v", noun, name, err)
		}
		seen[name] = true
		fields = append(fields, Field{Name: name, Path: p})
	}
	return fields, nil
}

// TokenClaims are the claims the token service sets itself. No value copied
// from a session may take their place, or the session document could choose
// its own subject or expiry.
var TokenClaims = map[string]bool{
	"sub": true, "iss": true, "iat": true, "nbf": true, "exp": true,
	"jti": true, "aud": true, "lwicontexts": true,
}

// ParseClaims parses claim=path pairs naming the session values copied into
// a token as identity claims; none may be one of TokenClaims.
func ParseClaims(list string) ([]Field, error) {
	fields, err := ParseFields(list, "claim")
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		if TokenClaims[f.Name] {
			return nil, fmt.Errorf("claim %q is set by chattoken itself and cannot be copied from the session", f.Name)
		}
	}
	return fields, nil
}

// JWTType returns the form of a typ value that comparisons use. A value
// without a "/" is a media type under application/ (RFC 7515 §4.1.9), and
// media types compare case-insensitively, so "at+jwt", "AT+JWT" and
// "application/at+jwt" are one type. It fails for what is not a media type
// without parameters.
func JWTType(typ string) (string, error) {
	if !strings.Contains(typ, "/") {
		typ = "application/" + typ
	}
	mediaType, params, err := mime.ParseMediaType(typ)
	if err != nil {
		return "", err
	}
	if len(params) > 0 {
		return "", errors.New("a type takes no parameters")
	}
	return mediaType, nil
}

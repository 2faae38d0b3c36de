// Package session finds out who is asking for a token. A Source validates
// the request's existing sign-in (one implementation per session mode) and
// returns the signed-in user's session Document, from which the subject,
// identity claims and context variables are read by dotted Path.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Source validates the session carried by a request.
//
// Lookup returns an error wrapping ErrUnauthenticated when the request has no
// valid session and one wrapping ErrUnavailable when the session backend could
// not answer; the wrapped text is for logs only and never reaches a client.
type Source interface {
	Lookup(ctx context.Context, r *http.Request) (Document, error)
}

var (
	// ErrUnauthenticated means the request carries no valid session.
	ErrUnauthenticated = errors.New("not signed in")
	// ErrUnavailable means the session backend failed to answer usefully.
	ErrUnavailable = errors.New("session backend unavailable")
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

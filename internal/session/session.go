// Package session finds out who is asking for a token. A Source validates
// the request's existing sign-in (one implementation per session mode) and
// returns the signed-in user's session jsondoc.Document, from which the subject,
// identity claims and context variables are read by dotted jsondoc.Path.
package session

import (
	"context"
	"errors"
	"net/http"

	"github.com/chattoken/chattoken/internal/jsondoc"
)

// Source validates the session carried by a request.
//
// Lookup returns an error wrapping ErrUnauthenticated when the request has no
// valid session and one wrapping ErrUnavailable when the session backend could
// not answer; the wrapped text is for logs only and never reaches a client.
type Source interface {
	Lookup(ctx context.Context, r *http.Request) (jsondoc.Document, error)
}

var (
	// ErrUnauthenticated means the request carries no valid session.
	ErrUnauthenticated = errors.New("not signed in")
	// ErrUnavailable means the session backend failed to answer usefully.
	ErrUnavailable = errors.New("session backend unavailable")
)

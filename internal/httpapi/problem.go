package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Stable error codes. Clients and dashboards key on these, so they never
// change meaning; api/openapi.yaml and docs/http-api.md list them.
const (
	CodeUnauthenticated        = "unauthenticated"
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidContext         = "invalid_context"
	CodeUnknownWidget          = "unknown_widget"
	CodePayloadTooLarge        = "payload_too_large"
	CodeUnsupportedMediaType   = "unsupported_media_type"
	CodeMethodNotAllowed       = "method_not_allowed"
	CodeMethodNotImplemented   = "method_not_implemented"
	CodeNotFound               = "not_found"
	CodeSessionUnavailable     = "session_unavailable"
	CodeInvalidSessionDocument = "invalid_session_document"
	CodeShuttingDown           = "shutting_down"
	CodeRateLimited            = "rate_limited"
	CodeInternal               = "internal"
)

// Error is the one error type handlers return. Status, Code and Detail go to
// the client; Cause goes only to the log.
type Error struct {
	Status int
	Code   string
	Detail string
	Cause  error
	// Header holds response headers the answer needs, such as Retry-After.
	Header http.Header
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return e.Code + ": " + e.Detail
	}
	return e.Code + ": " + e.Detail + ": " + e.Cause.Error()
}

func (e *Error) Unwrap() error { return e.Cause }

func newError(status int, code string, cause error, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Detail: fmt.Sprintf(format, args...), Cause: cause}
}

// problem is an RFC 9457 problem details body with chattoken's extensions.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"`
}

// WriteProblem is the one place an error becomes a response, for this
// package's handlers and for those mounted beside it. An *Error, wrapped or
// not, is answered as it says; anything else is a bug or an unexpected
// failure: the client gets a generic 500 and the log gets the cause.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Detail: "internal error", Cause: err}
	}
	info := infoFrom(r.Context())
	info.fail(e)
	body, _ := json.Marshal(problem{
		Type:      "about:blank",
		Title:     http.StatusText(e.Status),
		Status:    e.Status,
		Detail:    e.Detail,
		Code:      e.Code,
		RequestID: info.id,
	})
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	h.Set("Content-Type", "application/problem+json")
	// An error describes one moment; no cache should replay it.
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	h.Del("ETag")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// handlerFunc is a handler that reports failure by returning an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		WriteProblem(w, r, err)
	}
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/chattoken/chattoken/internal/clientip"
	"github.com/chattoken/chattoken/internal/lwicontext"
	"github.com/chattoken/chattoken/internal/ratelimit"
	"github.com/chattoken/chattoken/internal/session"
	"github.com/chattoken/chattoken/internal/token"
)

// maxBodyBytes bounds a POST /token body: a context of a few variables fits
// many times over.
const maxBodyBytes = 16 << 10

// tokenRequest is the optional POST /token body.
type tokenRequest struct {
	// Context holds request-sourced context variables, validated against
	// the context schema. It is decoded in a second step so that a null
	// context can be told apart from an absent one.
	Context jsontext.Value `json:"context"`
}

// tokenResponse is the 200 body of /token.
type tokenResponse struct {
	Token     string `json:"token"`
	ExpiresIn int64  `json:"expires_in"`
}

// newTokenHandler serves GET and POST /token: check the request, validate
// the session, build the claims, sign.
func newTokenHandler(d Deps) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		// Every answer of this route is personal: no cache may keep it.
		w.Header().Set("Cache-Control", "no-store")
		info := infoFrom(r.Context())

		// Every request counts against its address before anything else,
		// so a flood never reaches the session backend.
		if err := d.limit(r, d.AddressLimit, "address", "ip:"+clientip.LimitKey(info.client)); err != nil {
			return err
		}
		// The request is checked before the session backend is asked, so
		// a malformed request (or an unknown widget) costs no upstream call.
		schema, err := widgetSchema(r, d.Claims.Context)
		if err != nil {
			return err
		}
		// Only a widget the schema file defines is logged: the name comes
		// from the browser.
		info.widget = schema.Widget()
		raw, err := readTokenContext(w, r)
		if err != nil {
			return err
		}
		requestContext, err := schema.CheckRequest(raw)
		if err != nil {
			return newError(http.StatusBadRequest, CodeInvalidContext, nil, "%s", err)
		}

		doc, err := d.Sessions.Lookup(r.Context(), r)
		if err != nil {
			return sessionError(err)
		}
		tr, err := d.Claims.Request(doc, schema, requestContext)
		if err != nil {
			return assemblyError(err)
		}
		info.sub = tr.Subject
		if err := d.limit(r, d.SubjectLimit, "subject", "sub:"+tr.Subject); err != nil {
			return err
		}
		tok, err := d.Minter.Mint(tr)
		if err != nil {
			d.Metrics.SigningFailures.Inc()
			return fmt.Errorf("minting: %w", err)
		}
		info.minted = &tok
		if tok.Reused {
			d.Metrics.TokensReused.Inc()
		} else {
			d.Metrics.TokensMinted.WithLabelValues(tok.Alg, tok.KID).Inc()
		}

		expiresIn := tok.ExpiresAt.Unix() - d.Minter.Now().Unix()
		return writeJSON(w, http.StatusOK, tokenResponse{Token: tok.Raw, ExpiresIn: expiresIn})
	})
}

// widgetParam is the query parameter that names the widget asking for a
// token, each widget having its own context schema.
const widgetParam = "widget"

// widgetSchema returns the context schema of the widget the query names;
// with none named (or an empty name), the default one.
func widgetSchema(r *http.Request, widgets *lwicontext.Widgets) (*lwicontext.Schema, error) {
	// url.Values.Get would silently drop a badly escaped widget=... and
	// serve the default widget instead of the one the page meant.
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, newError(http.StatusBadRequest, CodeInvalidRequest, nil, "the query string is not valid URL encoding")
	}
	names := query[widgetParam]
	if len(names) > 1 {
		// Proxies and servers disagree on which copy wins.
		return nil, newError(http.StatusBadRequest, CodeInvalidRequest, nil, "the widget parameter appears more than once")
	}
	var name string
	if len(names) == 1 {
		name = names[0]
	}
	schema, err := widgets.Lookup(name)
	if err != nil {
		return nil, newError(http.StatusBadRequest, CodeUnknownWidget, nil, "%s", err)
	}
	return schema, nil
}

// limit counts the request against limiter under key. Past the limit the
// answer is 429 with Retry-After, the limiter's exact wait in seconds. An
// error (Redis down) is only logged: the limiter has still decided, from its
// count in this process.
func (d Deps) limit(r *http.Request, limiter ratelimit.Limiter, name, key string) error {
	if limiter == nil {
		return nil
	}
	allowed, retryAfter, err := limiter.Allow(r.Context(), key)
	if err != nil {
		d.limiterLog.Error().Err(err).Msg("Redis cannot be reached: rate limits count in this process")
	}
	if allowed {
		return nil
	}
	d.Metrics.RateLimited.WithLabelValues(name).Inc()
	e := newError(http.StatusTooManyRequests, CodeRateLimited, nil, "too many token requests for this %s; retry later", name)
	e.Header = http.Header{"Retry-After": {strconv.Itoa(retryAfterSeconds(retryAfter))}}
	return e
}

// retryAfterSeconds is the whole number of seconds to wait, rounded up: a
// client that waits exactly as long finds a request's worth of budget back,
// where rounding down would send it back too early for another 429. The
// limiters compute in floating point, so the wait is first rounded to the
// millisecond: 15s and a few nanoseconds of float noise is 15, not 16.
func retryAfterSeconds(wait time.Duration) int {
	wait = wait.Round(time.Millisecond)
	return int(max((wait+time.Second-1)/time.Second, 1))
}

// readTokenContext reads the optional JSON body and returns its context
// member. Whether a body is JSON is decided by Content-Type alone; an empty
// body is the same as a GET.
func readTokenContext(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	if r.Method != http.MethodPost {
		return nil, nil
	}
	body, err := readLimitedBody(w, r)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return nil, err
	}
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	var envelope tokenRequest
	if err := decodeStrict(body, &envelope); err != nil {
		return nil, newError(http.StatusBadRequest, CodeInvalidRequest, nil,
			"the body is not a JSON object of the form {\"context\": {...}}: %s", err)
	}
	var members map[string]jsontext.Value
	if envelope.Context != nil {
		if err := decodeStrict(envelope.Context, &members); err != nil {
			return nil, newError(http.StatusBadRequest, CodeInvalidRequest, nil, "context must be a JSON object: %s", err)
		}
	}
	if members == nil {
		return nil, nil
	}
	context := make(map[string]json.RawMessage, len(members))
	for name, v := range members {
		context[name] = json.RawMessage(v)
	}
	return context, nil
}

// readLimitedBody reads a request body of at most maxBodyBytes.
func readLimitedBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, nil,
				"the body is larger than %d bytes", maxBodyBytes)
		}
		return nil, newError(http.StatusBadRequest, CodeInvalidRequest, err, "the body could not be read")
	}
	return body, nil
}

// requireJSON refuses a body whose Content-Type is not application/json.
func requireJSON(r *http.Request) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return newError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, nil,
			"a POST body must be application/json")
	}
	return nil
}

// decodeStrict decodes exactly one JSON object into v. Member names match
// exactly (encoding/json would take "CONTEXT" for "context"), a member
// appearing twice is refused (parsers disagree on which one wins), and so
// are unknown members, null and trailing values. Its errors never quote the
// input.
func decodeStrict(data []byte, v any) error {
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true)); err != nil {
		return errors.New(jsonProblem(err))
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var syntax *jsontext.SyntacticError
	var semantic *jsonv2.SemanticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return "a member appears more than once"
	case errors.Is(err, jsonv2.ErrUnknownName):
		return "an unknown member (member names are case-sensitive)"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.ByteOffset)
	case errors.As(err, &semantic) && semantic.GoType != nil:
		field := "the body"
		if p := semantic.JSONPointer; p != "" {
			field = "the member at " + strconv.Quote(string(p))
		}
		return fmt.Sprintf("%s must be a JSON %s", field, jsonKind(semantic.GoType.Kind().String()))
	}
	return "not valid JSON"
}

func jsonKind(goKind string) string {
	if goKind == "map" || goKind == "struct" {
		return "object"
	}
	return goKind
}

// sessionError maps a session source's failure to its answer.
func sessionError(err error) error {
	switch {
	case errors.Is(err, session.ErrUnauthenticated):
		return newError(http.StatusUnauthorized, CodeUnauthenticated, err, "not signed in")
	case errors.Is(err, session.ErrUnavailable):
		e := newError(http.StatusServiceUnavailable, CodeSessionUnavailable, err,
			"the session could not be checked right now; try again shortly")
		var retry *session.UnavailableError
		if errors.As(err, &retry) && retry.RetryAfter > 0 {
			e.Header = http.Header{"Retry-After": {strconv.Itoa(int(retry.RetryAfter.Round(time.Second) / time.Second))}}
		}
		return e
	}
	return err
}

// assemblyError maps a failure to build the token's claims: the browser's
// context is a 400 naming the key; anything the session upstream got wrong
// is a 502 whose detail stays generic, with the reason in the log.
func assemblyError(err error) error {
	var ie *lwicontext.InvalidError
	if errors.As(err, &ie) && !ie.FromSession {
		return newError(http.StatusBadRequest, CodeInvalidContext, nil, "%s", err)
	}
	detail := "the session document does not fit the context schema"
	if errors.Is(err, token.ErrSessionDocument) {
		detail = "the session has no usable subject or identity claims"
	}
	return newError(http.StatusBadGateway, CodeInvalidSessionDocument, err, "%s", detail)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

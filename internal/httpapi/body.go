package httpapi

import (
	"bytes"
	"net/http"
)

// DecodeJSONBody decodes a request body that must be one application/json
// object into v, bounded and as strictly as /token's (see decodeStrict), for
// handlers mounted beside this package's. Its error is an *Error for
// WriteProblem: 413 past the size bound, 415 for another media type, 400
// for an empty or invalid body.
func DecodeJSONBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readLimitedBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return newError(http.StatusBadRequest, CodeInvalidRequest, nil, "the body is empty")
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	if err := decodeStrict(body, v); err != nil {
		return newError(http.StatusBadRequest, CodeInvalidRequest, nil, "the body is not valid: %s", err)
	}
	return nil
}

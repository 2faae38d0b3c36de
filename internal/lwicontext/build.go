package lwicontext

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/chattoken/chattoken/internal/jsondoc"
)

// InvalidError says why a context value was refused. FromSession tells who
// broke the rules: the session upstream (a 502: it broke its contract) or
// the browser's request (a 400).
type InvalidError struct {
	Variable    string
	Reason      string
	FromSession bool
}

func (e *InvalidError) Error() string {
	if e.Variable == "" {
		return e.Reason
	}
	return fmt.Sprintf("context variable %q %s", e.Variable, e.Reason)
}

// RequestValues are the browser's context values, checked against the
// schema, indexed like Schema.vars.
type RequestValues struct {
	values []value
}

// CheckRequest validates the context sent in a request body. It runs before
// the session is looked up, so a bad request costs no upstream call.
func (s *Schema) CheckRequest(raw map[string]json.RawMessage) (RequestValues, error) {
	var rv RequestValues
	if len(raw) > 0 {
		rv.values = make([]value, len(s.vars))
	}
	for _, name := range sortedKeys(raw) {
		v, ok := s.byName[name]
		if !ok {
			return rv, &InvalidError{Variable: name, Reason: "is not in the context schema (" + s.describeRequestNames() + ")"}
		}
		if v.Source != SourceRequest {
			return rv, &InvalidError{Variable: name, Reason: "comes from the " + v.Source + " and cannot be set by the request"}
		}
		val, err := v.fromJSON(raw[name])
		if err != nil {
			return rv, &InvalidError{Variable: name, Reason: err.Error()}
		}
		rv.values[s.index(v)] = val
	}
	for i, v := range s.vars {
		if v.Source == SourceRequest && v.Required && (rv.values == nil || !rv.values[i].set) {
			return rv, &InvalidError{Variable: v.Name, Reason: "is required"}
		}
	}
	return rv, nil
}

// Build returns the lwicontexts claim for a session document and checked
// request values, or "" when no variable has a value. Errors are
// *InvalidError.
func (s *Schema) Build(doc jsondoc.Document, req RequestValues) (string, error) {
	vals := s.staticValues()
	hasRequest := false
	for i, v := range s.vars {
		switch v.Source {
		case SourceSession:
			x, ok := doc.Get(v.Field)
			if !ok {
				if v.Required {
					return "", &InvalidError{Variable: v.Name, Reason: fmt.Sprintf("is required but the session has no value at %q", v.Field), FromSession: true}
				}
				continue
			}
			val, err := v.fromDocument(x)
			if err != nil {
				return "", &InvalidError{Variable: v.Name, Reason: fmt.Sprintf("read from the session at %q %s", v.Field, err), FromSession: true}
			}
			vals[i] = val
		case SourceRequest:
			if i < len(req.values) && req.values[i].set {
				vals[i] = req.values[i]
				hasRequest = true
			}
		}
	}
	out := s.serialize(vals)
	if len(out) <= s.maxBytes {
		if out == "{}" {
			return "", nil
		}
		return out, nil
	}
	// Too long: blame the request only if the rest fits without it.
	if hasRequest {
		for i, v := range s.vars {
			if v.Source == SourceRequest {
				vals[i] = value{}
			}
		}
		if n := len(s.serialize(vals)); n <= s.maxBytes {
			return "", &InvalidError{Reason: fmt.Sprintf("the context would serialize to %d bytes with the request's values; the limit is %d", len(out), s.maxBytes)}
		}
	}
	return "", &InvalidError{Reason: fmt.Sprintf("the session's context values serialize to more than the %d-byte limit", s.maxBytes), FromSession: true}
}

// staticValues returns a fresh slice holding only the static values.
func (s *Schema) staticValues() []value {
	vals := make([]value, len(s.vars))
	for i, v := range s.vars {
		if v.Source == SourceStatic {
			vals[i] = v.static
		}
	}
	return vals
}

// displayable is the chat SDK's form of a context value the agent sees in
// the conversation summary, spelled as the SDK spells it (Microsoft's
// "Display custom context" page writes "Value" instead).
type displayable struct {
	Value         any  `json:"value"`
	IsDisplayable bool `json:"isDisplayable"`
}

// serialize writes the set values as a flat JSON object with keys in
// sorted order (encoding/json's order for a map). With the string encoding
// every value is a JSON string, as in Microsoft's example; with the typed
// encoding numbers and booleans stay JSON numbers and booleans. A display
// variable's value, in the same form, is wrapped in a displayable object.
func (s *Schema) serialize(vals []value) string {
	m := make(map[string]any, len(s.vars))
	for i, v := range s.vars {
		if !vals[i].set {
			continue
		}
		var x any = vals[i].text
		if s.typed && v.Type != TypeText {
			x = json.RawMessage(vals[i].text) // a checked number or boolean
		}
		if v.Display {
			x = displayable{Value: x, IsDisplayable: true}
		}
		m[v.Name] = x
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	// <, > and & are left alone: escaping them would only lengthen the claim.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m) // strings and checked literals always encode
	return strings.TrimSuffix(b.String(), "\n")
}

func (s *Schema) index(v *Variable) int {
	return sort.Search(len(s.vars), func(i int) bool { return s.vars[i].Name >= v.Name })
}

func sortedKeys(m map[string]json.RawMessage) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Package lwicontext owns the lwicontexts claim: the context schema an
// operator writes (which variables exist, their types, where each value
// comes from and which ones the agent sees; one schema per widget when a
// site runs several), checked once at start, and the per-request work of
// validating the browser's values, reading the session's, and serializing
// them to the flat JSON string Omnichannel expects.
package lwicontext

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/chattoken/chattoken/internal/jsondoc"
)

// Omnichannel's limits on context variables.
const (
	MaxVariables     = 100
	MaxNameLength    = 100
	MaxValueLength   = 4000
	DefaultMaxBytes  = 4096
	MaxMaxBytes      = 6144
	EncodingString   = "string"
	EncodingTyped    = "typed"
	TypeText         = "text"
	TypeNumber       = "number"
	TypeBoolean      = "boolean"
	SourceSession    = "session"
	SourceRequest    = "request"
	SourceStatic     = "static"
	defaultMaxLength = MaxValueLength
)

// Schema is a checked context schema: one widget's, or the whole file's
// when it defines no widgets. It is immutable and safe for concurrent use.
type Schema struct {
	widget   string
	typed    bool
	maxBytes int
	// vars is sorted by name, which is the serialization order.
	vars   []*Variable
	byName map[string]*Variable
}

// Variable is one context variable of the schema.
type Variable struct {
	Name      string
	Type      string
	Source    string
	Field     jsondoc.Path // SourceSession
	Required  bool
	MaxLength int
	Enum      map[string]bool // request only; nil allows any value
	Pattern   *regexp.Regexp  // request only; matches the whole value
	// Display writes the value as {"value": <value>, "isDisplayable": true},
	// the chat SDK's form for context the agent sees in the conversation
	// summary.
	Display bool
	static  value // SourceStatic
}

// SchemaError is a mistake in the schema file. Widget is empty when the
// file defines no widgets or the problem is the file as a whole; Variable is
// empty when the problem is a whole schema.
type SchemaError struct {
	Widget   string
	Variable string
	Reason   string
}

func (e *SchemaError) Error() string {
	msg := e.Reason
	if e.Variable != "" {
		msg = fmt.Sprintf("context variable %q: %s", e.Variable, msg)
	}
	if e.Widget != "" {
		msg = fmt.Sprintf("widget %q: %s", e.Widget, msg)
	}
	return msg
}

// fileSchema and fileVariable are the JSON form of the schema file. Widgets
// is allowed only at the top level, and then alone (see Parse).
type fileSchema struct {
	Encoding  string                     `json:"encoding"`
	Variables map[string]json.RawMessage `json:"variables"`
	Widgets   json.RawMessage            `json:"widgets"`
}

type fileVariable struct {
	Type      string          `json:"type"`
	Source    string          `json:"source"`
	Field     string          `json:"field"`
	Value     json.RawMessage `json:"value"`
	Required  bool            `json:"required"`
	MaxLength *int            `json:"max_length"`
	Enum      []string        `json:"enum"`
	Pattern   *string         `json:"pattern"`
	// Display is kept raw so that only a JSON boolean is accepted: null or
	// "true" would otherwise pass unnoticed or with a confusing message.
	Display json.RawMessage `json:"display"`
}

// Load reads and checks the schema file at path. maxBytes bounds the
// serialized claim of every widget.
func Load(path string, maxBytes int) (*Widgets, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &SchemaError{Reason: err.Error()}
	}
	return Parse(data, maxBytes)
}

// newSchema checks one decoded schema, the file's or the named widget's.
func newSchema(f fileSchema, maxBytes int, widget string) (*Schema, error) {
	if f.Widgets != nil {
		return nil, &SchemaError{Reason: `"widgets" is allowed only at the top level of the file`}
	}
	s := &Schema{widget: widget, maxBytes: maxBytes, byName: make(map[string]*Variable, len(f.Variables))}
	switch f.Encoding {
	case "", EncodingString:
	case EncodingTyped:
		s.typed = true
	default:
		return nil, &SchemaError{Reason: fmt.Sprintf("encoding must be %q or %q; got %q", EncodingString, EncodingTyped, f.Encoding)}
	}
	if f.Variables == nil {
		return nil, &SchemaError{Reason: `"variables" is missing: list the workstream's context variables`}
	}
	if len(f.Variables) > MaxVariables {
		return nil, &SchemaError{Reason: fmt.Sprintf("%d variables; Omnichannel allows at most %d", len(f.Variables), MaxVariables)}
	}
	for name, raw := range f.Variables {
		v, err := parseVariable(name, raw)
		if err != nil {
			return nil, &SchemaError{Variable: name, Reason: err.Error()}
		}
		s.vars = append(s.vars, v)
		s.byName[name] = v
	}
	sort.Slice(s.vars, func(i, j int) bool { return s.vars[i].Name < s.vars[j].Name })

	// The static values alone must fit, or every request would fail.
	if n := len(s.serialize(s.staticValues())); n > maxBytes {
		return nil, &SchemaError{Reason: fmt.Sprintf("the static values alone serialize to %d bytes; the limit is %d", n, maxBytes)}
	}
	return s, nil
}

func parseVariable(name string, raw json.RawMessage) (*Variable, error) {
	if name == "" {
		return nil, errors.New("the name is empty")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		return nil, fmt.Errorf("the name has %d characters; Omnichannel allows at most %d", n, MaxNameLength)
	}
	var f fileVariable
	if err := strictDecode(raw, &f); err != nil {
		return nil, err
	}
	v := &Variable{Name: name, Type: f.Type, Source: f.Source, Required: f.Required, MaxLength: defaultMaxLength}
	switch f.Type {
	case TypeText, TypeNumber, TypeBoolean:
	default:
		return nil, fmt.Errorf("type must be text, number or boolean; got %q", f.Type)
	}
	switch string(f.Display) {
	case "", "false":
	case "true":
		v.Display = true
	default:
		return nil, fmt.Errorf("display must be true or false, not %s", describeJSON(f.Display))
	}
	if f.MaxLength != nil {
		if *f.MaxLength < 1 || *f.MaxLength > MaxValueLength {
			return nil, fmt.Errorf("max_length must be between 1 and %d; got %d", MaxValueLength, *f.MaxLength)
		}
		v.MaxLength = *f.MaxLength
	}
	if f.Source != SourceRequest && (f.Enum != nil || f.Pattern != nil) {
		return nil, errors.New("enum and pattern apply only to request variables")
	}
	if f.Source != SourceSession && f.Field != "" {
		return nil, errors.New("field applies only to session variables")
	}
	if f.Source != SourceStatic && f.Value != nil {
		return nil, errors.New("value applies only to static variables")
	}

	switch f.Source {
	case SourceSession:
		p, err := jsondoc.ParsePath(f.Field)
		if err != nil {
			return nil, fmt.Errorf("field: %v", err)
		}
		v.Field = p
	case SourceRequest:
		if f.Enum != nil {
			if len(f.Enum) == 0 {
				return nil, errors.New("enum is empty: no value could ever be accepted")
			}
			v.Enum = make(map[string]bool, len(f.Enum))
			for _, e := range f.Enum {
				v.Enum[e] = true
			}
		}
		if f.Pattern != nil {
			re, err := regexp.Compile(`^(?:` + *f.Pattern + `)$`)
			if err != nil {
				return nil, fmt.Errorf("pattern is not a valid regular expression: %v", err)
			}
			v.Pattern = re
		}
	case SourceStatic:
		if f.Value == nil {
			return nil, errors.New("a static variable needs a value")
		}
		val, err := v.fromJSON(f.Value)
		if err != nil {
			return nil, fmt.Errorf("value: %v", err)
		}
		v.static = val
	default:
		return nil, fmt.Errorf("source must be session, request or static; got %q", f.Source)
	}
	return v, nil
}

// strictDecode decodes one JSON object, refusing unknown fields and trailing
// data.
func strictDecode(data []byte, v any) error {
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// describeJSON names the kind of a valid JSON value other than a boolean,
// for messages that must not quote the value (it may span lines).
func describeJSON(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	}
	return "a number"
}

// Widget is the name of the widget the schema belongs to, or "" when the
// file defines no widgets.
func (s *Schema) Widget() string { return s.widget }

// Variables returns the schema's variables in serialization order.
func (s *Schema) Variables() []*Variable { return s.vars }

// Names lists the variables of a source, sorted; for messages and docs.
func (s *Schema) Names(source string) []string {
	var names []string
	for _, v := range s.vars {
		if v.Source == source {
			names = append(names, v.Name)
		}
	}
	return names
}

func (s *Schema) describeRequestNames() string {
	names := s.Names(SourceRequest)
	if len(names) == 0 {
		return "no variable may be set by the request"
	}
	return "variables the request may set: " + strings.Join(names, ", ")
}

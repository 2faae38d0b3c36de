package lwicontext

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// DefaultWidget is the widget that serves a request naming none.
const DefaultWidget = "default"

// widgetName is what a widget may be called: short, and safe in a URL and a
// log line as it is.
var widgetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Widgets is the checked schema file: the schema of each widget a site
// runs, or a single unnamed schema when the file defines no widgets. It is
// immutable and safe for concurrent use.
type Widgets struct {
	single *Schema            // a file without "widgets"
	named  map[string]*Schema // a file with "widgets"
	names  []string           // the keys of named, sorted
}

// Empty is the schema file with no variables and no widgets: no lwicontexts
// claim, and any context in a request is refused.
func Empty() *Widgets {
	return &Widgets{single: &Schema{maxBytes: DefaultMaxBytes, byName: map[string]*Variable{}}}
}

// Parse checks a schema file given as JSON: one schema, or
// {"widgets": {"NAME": <schema>, ...}} with one schema per widget, each with
// its own encoding and variables. maxBytes bounds every widget's claim.
func Parse(data []byte, maxBytes int) (*Widgets, error) {
	var f fileSchema
	if err := strictDecode(data, &f); err != nil {
		return nil, &SchemaError{Reason: "not a valid schema: " + err.Error()}
	}
	if f.Widgets == nil {
		s, err := newSchema(f, maxBytes, "")
		if err != nil {
			return nil, err
		}
		return &Widgets{single: s}, nil
	}
	if f.Encoding != "" || f.Variables != nil {
		return nil, &SchemaError{Reason: `a file with "widgets" has no other member: each widget has its own "encoding" and "variables"`}
	}
	var raw map[string]json.RawMessage
	if err := strictDecode(f.Widgets, &raw); err != nil {
		return nil, &SchemaError{Reason: `"widgets" must map widget names to schemas: ` + err.Error()}
	}
	if len(raw) == 0 {
		return nil, &SchemaError{Reason: `"widgets" is empty: name at least one widget, or leave "widgets" out`}
	}
	w := &Widgets{named: make(map[string]*Schema, len(raw))}
	for name := range raw {
		w.names = append(w.names, name)
	}
	// In name order, so that the same file always reports the same mistake.
	sort.Strings(w.names)
	for _, name := range w.names {
		if !widgetName.MatchString(name) {
			return nil, &SchemaError{Widget: name, Reason: "a widget name is 1 to 64 letters, digits, '-', '_' or '.', and starts with a letter or digit"}
		}
		var wf fileSchema
		if err := strictDecode(raw[name], &wf); err != nil {
			return nil, &SchemaError{Widget: name, Reason: "not a valid schema: " + err.Error()}
		}
		s, err := newSchema(wf, maxBytes, name)
		if err != nil {
			var se *SchemaError
			if errors.As(err, &se) {
				se.Widget = name
			}
			return nil, err
		}
		w.named[name] = s
	}
	return w, nil
}

// Lookup returns the schema of the widget a request names ("" when it
// names none). Its error says why there is none, without repeating the
// name, which comes from the browser; it is safe to show to the client.
//
// In a file without widgets only "" is known: a page that names a widget
// expects context this service does not know how to send. In a file with
// widgets, "" is the widget named DefaultWidget when there is one.
func (w *Widgets) Lookup(name string) (*Schema, error) {
	if w.named == nil {
		if name != "" {
			return nil, errors.New("the context schema defines no widgets; leave out the widget parameter")
		}
		return w.single, nil
	}
	if name == "" {
		if s, ok := w.named[DefaultWidget]; ok {
			return s, nil
		}
		return nil, fmt.Errorf("no widget was named and none is called %q; name one of: %s", DefaultWidget, strings.Join(w.names, ", "))
	}
	if s, ok := w.named[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("no widget has that name; the widgets are: %s", strings.Join(w.names, ", "))
}

// Variables returns every widget's variables, widget by widget in name
// order: what a session document must keep is the union of their fields.
func (w *Widgets) Variables() []*Variable {
	if w.named == nil {
		return w.single.vars
	}
	var vars []*Variable
	for _, name := range w.names {
		vars = append(vars, w.named[name].vars...)
	}
	return vars
}

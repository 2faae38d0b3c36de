package lwicontext

import (
	"errors"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/internal/jsondoc"
)

// widgetsFile has two widgets with their own variables and encodings, and
// a default one.
const widgetsFile = `{"widgets": {
	"sales":   {"encoding": "typed",  "variables": {
		"msdyn_cartvalue": {"type": "number", "source": "session", "field": "cart.total"}}},
	"support": {"encoding": "string", "variables": {
		"msdyn_casenumber": {"type": "text", "source": "request"},
		"msdyn_isvip":      {"type": "boolean", "source": "session", "field": "vip", "display": true}}},
	"default": {"variables": {}}
}}`

func TestWidgetsEachHaveTheirSchema(t *testing.T) {
	t.Parallel()
	w, err := Parse([]byte(widgetsFile), DefaultMaxBytes)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	session := doc(t, `{"cart": {"total": 12.5}, "vip": true}`)
	tests := []struct {
		widget, request, want string
	}{
		{"sales", `{}`, `{"msdyn_cartvalue":12.5}`},
		{"support", `{"msdyn_casenumber": "CAS-1"}`, `{"msdyn_casenumber":"CAS-1","msdyn_isvip":{"value":"true","isDisplayable":true}}`},
		{"", `{}`, ``},
		{"default", `{}`, ``},
	}
	for _, tt := range tests {
		s, err := w.Lookup(tt.widget)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", tt.widget, err)
		}
		if want := tt.widget; s.Widget() != want && !(want == "" && s.Widget() == DefaultWidget) {
			t.Errorf("Lookup(%q).Widget() = %q", tt.widget, s.Widget())
		}
		rv, err := s.CheckRequest(request(t, tt.request))
		if err != nil {
			t.Fatalf("widget %q: CheckRequest: %v", tt.widget, err)
		}
		if got, err := s.Build(session, rv); err != nil || got != tt.want {
			t.Errorf("widget %q: Build = %q, %v; want %q", tt.widget, got, err, tt.want)
		}
	}
	// One widget's request variable is unknown to another.
	sales, _ := w.Lookup("sales")
	if _, err := sales.CheckRequest(request(t, `{"msdyn_casenumber": "CAS-1"}`)); err == nil {
		t.Error("the sales widget accepted the support widget's request variable")
	}
	// What a session document must keep covers every widget.
	var fields []string
	for _, v := range w.Variables() {
		if v.Source == SourceSession {
			fields = append(fields, v.Field.String())
		}
	}
	if got := strings.Join(fields, ","); got != "cart.total,vip" {
		t.Errorf("session fields of all widgets = %q, want cart.total,vip", got)
	}
}

func TestWidgetLookupRefusals(t *testing.T) {
	t.Parallel()
	withDefault, err := Parse([]byte(widgetsFile), DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	noDefault, err := Parse([]byte(`{"widgets": {"sales": {"variables": {}}, "support": {"variables": {}}}}`), DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	single := Empty()
	tests := []struct {
		name   string
		w      *Widgets
		widget string
		want   string
	}{
		{"unknown widget", withDefault, "Sales", "no widget has that name; the widgets are: default, sales, support"},
		{"none named, no default", noDefault, "", `none is called "default"; name one of: sales, support`},
		{"a widget of a file without widgets", single, "sales", "defines no widgets"},
		{"the default of a file without widgets", single, "default", "defines no widgets"},
	}
	for _, tt := range tests {
		s, err := tt.w.Lookup(tt.widget)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Lookup(%q) = %v, %v; want an error containing %q", tt.name, tt.widget, s, err, tt.want)
		}
		if err != nil && tt.widget != "" && strings.Contains(err.Error(), tt.widget) {
			t.Errorf("%s: the message %q repeats the browser's name", tt.name, err)
		}
	}
	if s, err := single.Lookup(""); err != nil || s.Widget() != "" || len(s.Variables()) != 0 {
		t.Errorf("Empty().Lookup(\"\") = %v, %v", s, err)
	}
	if got, err := mustLookup(t, single).Build(jsondoc.Document{}, RequestValues{}); got != "" || err != nil {
		t.Errorf("the empty schema builds %q, %v", got, err)
	}
}

func mustLookup(t *testing.T, w *Widgets) *Schema {
	t.Helper()
	s, err := w.Lookup("")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWidgetsFileRefusals has one row per way a widgets file can be wrong;
// each names the widget and, when one is at fault, the variable.
func TestWidgetsFileRefusals(t *testing.T) {
	t.Parallel()
	good := `{"variables": {}}`
	tests := []struct {
		name, file, wantWidget, wantVar, want string
	}{
		{"empty", `{"widgets": {}}`, "", "", `"widgets" is empty`},
		{"null", `{"widgets": null}`, "", "", "not a JSON object"},
		{"an array", `{"widgets": [` + good + `]}`, "", "", "not a JSON object"},
		{"beside variables", `{"widgets": {"sales": ` + good + `}, "variables": {}}`, "", "", "no other member"},
		{"beside an encoding", `{"widgets": {"sales": ` + good + `}, "encoding": "typed"}`, "", "", "no other member"},
		{"a widget not an object", `{"widgets": {"sales": "typed"}}`, "sales", "", "not a JSON object"},
		{"a widget with an unknown member", `{"widgets": {"sales": {"variables": {}, "name": "x"}}}`, "sales", "", "unknown field"},
		{"a widget without variables", `{"widgets": {"sales": {"encoding": "typed"}}}`, "sales", "", `"variables" is missing`},
		{"a widget with a bad encoding", `{"widgets": {"sales": {"encoding": "raw", "variables": {}}}}`, "sales", "", "encoding must be"},
		{"nested widgets", `{"widgets": {"sales": {"widgets": {"x": ` + good + `}}}}`, "sales", "", "only at the top level"},
		{"a broken variable", `{"widgets": {"a": ` + good + `, "support": {"variables": {"msdyn_x": {"type": "text", "source": "request", "display": "yes"}}}}}`,
			"support", "msdyn_x", "display must be true or false"},
		{"an empty name", `{"widgets": {"": ` + good + `}}`, "", "", "a widget name is"},
		{"a name with a space", `{"widgets": {"sales team": ` + good + `}}`, "sales team", "", "a widget name is"},
		{"a name over 64 characters", `{"widgets": {"` + strings.Repeat("w", 65) + `": ` + good + `}}`, strings.Repeat("w", 65), "", "a widget name is"},
		{"static values over the limit", `{"widgets": {"sales": {"variables": {"v": {"type": "text", "source": "static", "value": "` + strings.Repeat("x", 60) + `"}}}}}`,
			"sales", "", "limit is 50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.file), 50)
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error = %v, want a *SchemaError", err)
			}
			if se.Widget != tt.wantWidget || se.Variable != tt.wantVar || !strings.Contains(se.Reason, tt.want) {
				t.Errorf("SchemaError{%q, %q, %q}, want widget %q, variable %q and a reason containing %q",
					se.Widget, se.Variable, se.Reason, tt.wantWidget, tt.wantVar, tt.want)
			}
			if tt.wantWidget != "" && !strings.HasPrefix(err.Error(), `widget "`+tt.wantWidget+`": `) {
				t.Errorf("message %q does not start with the widget", err)
			}
		})
	}
	// A name of 64 characters is fine.
	if _, err := Parse([]byte(`{"widgets": {"`+strings.Repeat("w", 64)+`": `+good+`}}`), 50); err != nil {
		t.Errorf("a 64-character widget name: %v", err)
	}
}

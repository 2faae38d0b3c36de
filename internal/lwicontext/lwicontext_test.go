package lwicontext

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/internal/jsondoc"
)

// exampleSchema extends the worked example of docs/context.md with a variable of
// each remaining type and rule, so every check has something to refuse, and a
// display variable, so that every check also meets the displayable form.
const exampleSchema = `{
  "encoding": %q,
  "variables": {
    "msdyn_cartvalue": {"type": "number",  "source": "session", "field": "cart.total"},
    "msdyn_isvip":     {"type": "boolean", "source": "session", "field": "vip", "required": true},
    "msdyn_pageurl":   {"type": "text",    "source": "request", "max_length": 2048},
    "msdyn_channel":   {"type": "text",    "source": "static",  "value": "web"},
    "msdyn_plan":      {"type": "text",    "source": "request", "enum": ["basic", "gold"]},
    "msdyn_ordercode": {"type": "text",    "source": "request", "pattern": "[A-Z]{2}-[0-9]{4}"},
    "msdyn_items":     {"type": "number",  "source": "request", "display": true},
    "msdyn_gift":      {"type": "boolean", "source": "request"},
    "msdyn_nickname":  {"type": "text",    "source": "session", "field": "profile.nick", "max_length": 8}
  }
}`

func mustParse(t testing.TB, encoding string, maxBytes int) *Schema {
	t.Helper()
	return parseOne(t, string(fmt.Appendf(nil, exampleSchema, encoding)), maxBytes)
}

// parseOne parses a schema file without widgets and returns its schema.
func parseOne(t testing.TB, data string, maxBytes int) *Schema {
	t.Helper()
	w, err := Parse([]byte(data), maxBytes)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s, err := w.Lookup("")
	if err != nil {
		t.Fatalf("Lookup(\"\"): %v", err)
	}
	return s
}

func doc(t *testing.T, js string) jsondoc.Document {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var d jsondoc.Document
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

func request(t *testing.T, js string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseRefusals(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", 101)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf(`"v%d": {"type": "text", "source": "request"}`, i)
	}
	tests := []struct {
		name, schema, wantVar, want string
	}{
		{"not JSON", `{`, "", "not a valid schema"},
		{"not an object", `[]`, "", "not a JSON object"},
		{"unknown top-level field", `{"variables": {}, "version": 2}`, "", "unknown field"},
		{"unknown encoding", `{"encoding": "base64", "variables": {}}`, "", "encoding must be"},
		{"no variables member", `{"encoding": "string"}`, "", "variables"},
		{"more than 100 variables", `{"variables": {` + strings.Join(many, ",") + `}}`, "", "at most 100"},
		{"name over 100 characters", `{"variables": {"` + long + `": {"type": "text", "source": "request"}}}`, long, "at most 100"},
		{"empty name", `{"variables": {"": {"type": "text", "source": "request"}}}`, "", "name is empty"},
		{"unknown variable field", `{"variables": {"v": {"type": "text", "source": "request", "default": "x"}}}`, "v", "unknown field"},
		{"variable not an object", `{"variables": {"v": "text"}}`, "v", "not a JSON object"},
		{"unknown type", `{"variables": {"v": {"type": "date", "source": "request"}}}`, "v", "type must be"},
		{"missing type", `{"variables": {"v": {"source": "request"}}}`, "v", "type must be"},
		{"unknown source", `{"variables": {"v": {"type": "text", "source": "cookie"}}}`, "v", "source must be"},
		{"session without field", `{"variables": {"v": {"type": "text", "source": "session"}}}`, "v", "field"},
		{"session with bad field", `{"variables": {"v": {"type": "text", "source": "session", "field": "a..b"}}}`, "v", "empty segment"},
		{"field on a request variable", `{"variables": {"v": {"type": "text", "source": "request", "field": "x"}}}`, "v", "field applies only"},
		{"value on a session variable", `{"variables": {"v": {"type": "text", "source": "session", "field": "x", "value": "y"}}}`, "v", "value applies only"},
		{"static without value", `{"variables": {"v": {"type": "text", "source": "static"}}}`, "v", "needs a value"},
		{"static value of the wrong type", `{"variables": {"v": {"type": "number", "source": "static", "value": "ten"}}}`, "v", "must be a number"},
		{"static value null", `{"variables": {"v": {"type": "text", "source": "static", "value": null}}}`, "v", "must not be null"},
		{"static value an object", `{"variables": {"v": {"type": "text", "source": "static", "value": {}}}}`, "v", "not an object"},
		{"static value over max_length", `{"variables": {"v": {"type": "text", "source": "static", "value": "abcdef", "max_length": 3}}}`, "v", "at most 3"},
		{"bad pattern", `{"variables": {"v": {"type": "text", "source": "request", "pattern": "[a-"}}}`, "v", "pattern is not a valid"},
		{"pattern on a session variable", `{"variables": {"v": {"type": "text", "source": "session", "field": "x", "pattern": "a"}}}`, "v", "only to request"},
		{"enum on a static variable", `{"variables": {"v": {"type": "text", "source": "static", "value": "a", "enum": ["a"]}}}`, "v", "only to request"},
		{"empty enum", `{"variables": {"v": {"type": "text", "source": "request", "enum": []}}}`, "v", "enum is empty"},
		{"max_length zero", `{"variables": {"v": {"type": "text", "source": "request", "max_length": 0}}}`, "v", "between 1 and 4000"},
		{"max_length over 4000", `{"variables": {"v": {"type": "text", "source": "request", "max_length": 4001}}}`, "v", "between 1 and 4000"},
		{"static values over the byte limit", `{"variables": {"v": {"type": "text", "source": "static", "value": "` + strings.Repeat("x", 60) + `"}}}`, "", "limit is 50"},
		{"display a string", `{"variables": {"v": {"type": "text", "source": "request", "display": "true"}}}`, "v", "display must be true or false, not a string"},
		{"display a number", `{"variables": {"v": {"type": "text", "source": "request", "display": 1}}}`, "v", "display must be true or false, not a number"},
		{"display null", `{"variables": {"v": {"type": "text", "source": "request", "display": null}}}`, "v", "display must be true or false, not null"},
		{"display an object spanning lines", "{\"variables\": {\"v\": {\"type\": \"text\", \"source\": \"request\", \"display\": {\n\"on\": true}}}}", "v", "display must be true or false, not an object"},
		{"display on the schema", `{"display": true, "variables": {}}`, "", "unknown field"},
		{"static value in the displayable form", `{"variables": {"v": {"type": "text", "source": "static", "value": {"value": "web", "isDisplayable": true}}}}`, "v", `marks "display": true`},
		// The wrapper counts against the limit: "x" alone would fit.
		{"displayable static values over the byte limit", `{"variables": {"v": {"type": "text", "source": "static", "display": true, "value": "` + strings.Repeat("x", 20) + `"}}}`, "", "limit is 50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.schema), 50)
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error = %v, want a *SchemaError", err)
			}
			if se.Widget != "" || se.Variable != tt.wantVar || !strings.Contains(se.Reason, tt.want) {
				t.Errorf("SchemaError{%q, %q, %q}, want variable %q and a reason containing %q", se.Widget, se.Variable, se.Reason, tt.wantVar, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the message %q spans lines", err)
			}
		})
	}
}

func TestBuildSerializesExactly(t *testing.T) {
	t.Parallel()
	session := `{"cart": {"total": 1e4}, "vip": false, "profile": {"nick": "ann"}}`
	req := `{"msdyn_pageurl": "https://shop.example/cart?a=1&b=<2>", "msdyn_items": 3, "msdyn_gift": true, "msdyn_plan": "gold"}`
	tests := []struct {
		encoding, want string
	}{
		{EncodingString, `{"msdyn_cartvalue":"10000","msdyn_channel":"web","msdyn_gift":"true","msdyn_isvip":"false","msdyn_items":{"value":"3","isDisplayable":true},"msdyn_nickname":"ann","msdyn_pageurl":"https://shop.example/cart?a=1&b=<2>","msdyn_plan":"gold"}`},
		{EncodingTyped, `{"msdyn_cartvalue":10000,"msdyn_channel":"web","msdyn_gift":true,"msdyn_isvip":false,"msdyn_items":{"value":3,"isDisplayable":true},"msdyn_nickname":"ann","msdyn_pageurl":"https://shop.example/cart?a=1&b=<2>","msdyn_plan":"gold"}`},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, tt.encoding, DefaultMaxBytes)
			rv, err := s.CheckRequest(request(t, req))
			if err != nil {
				t.Fatalf("CheckRequest: %v", err)
			}
			got, err := s.Build(doc(t, session), rv)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if got != tt.want {
				t.Errorf("Build =\n%s\nwant\n%s", got, tt.want)
			}
			var parsed map[string]any
			if err := json.Unmarshal([]byte(got), &parsed); err != nil {
				t.Errorf("the claim is not JSON: %v", err)
			}
		})
	}
}

func TestBuildLeavesOutAbsentOptionalValues(t *testing.T) {
	t.Parallel()
	s := mustParse(t, EncodingString, DefaultMaxBytes)
	got, err := s.Build(doc(t, `{"vip": true, "cart": {"total": null}}`), RequestValues{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"msdyn_channel":"web","msdyn_isvip":"true"}`; got != want {
		t.Errorf("Build = %s, want %s", got, want)
	}

	empty := parseOne(t, `{"variables": {"v": {"type": "text", "source": "request"}}}`, DefaultMaxBytes)
	if got, err := empty.Build(jsondoc.Document{}, RequestValues{}); got != "" || err != nil {
		t.Errorf("Build with no values = %q, %v; want no claim", got, err)
	}
}

func TestPlainDecimal(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"0.0", "0"}, {"0e5", "0"}, {"1", "1"}, {"-1", "-1"},
		{"10000", "10000"}, {"1e4", "10000"}, {"1E+4", "10000"}, {"1.5", "1.5"}, {"1.50", "1.5"},
		{"100.000", "100"}, {"1.5e-3", "0.0015"}, {"-2.5E-1", "-0.25"}, {"123.456e1", "1234.56"},
		{"0.000120", "0.00012"}, {"12345678901234567890123", "12345678901234567890123"},
		{"9007199254740993", "9007199254740993"}, {"1e-7", "0.0000001"}, {"5e0", "5"},
	}
	for _, tt := range tests {
		got, err := plainDecimal(tt.in, MaxValueLength)
		if err != nil || got != tt.want {
			t.Errorf("plainDecimal(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"1e5000", "1e-5000", "1e9999999999", "", "-", "1.", ".5", "1e", "abc", "1x"} {
		if got, err := plainDecimal(in, MaxValueLength); err == nil {
			t.Errorf("plainDecimal(%q) = %q; want a refusal", in, got)
		}
	}
}

// TestRequestRefusals has one row per rule a browser's value can break.
func TestRequestRefusals(t *testing.T) {
	t.Parallel()
	s := mustParse(t, EncodingString, DefaultMaxBytes)
	tests := []struct {
		name, body, wantVar, want string
	}{
		{"unknown key", `{"msdyn_unknown": "x"}`, "msdyn_unknown", "not in the context schema"},
		{"key differing in case", `{"MSDYN_PAGEURL": "x"}`, "MSDYN_PAGEURL", "not in the context schema"},
		{"overriding a session value", `{"msdyn_isvip": true}`, "msdyn_isvip", "comes from the session"},
		{"overriding a static value", `{"msdyn_channel": "phone"}`, "msdyn_channel", "comes from the static"},
		{"object", `{"msdyn_pageurl": {"href": "x"}}`, "msdyn_pageurl", "not an object or array"},
		{"the displayable form", `{"msdyn_items": {"value": 3, "isDisplayable": true}}`, "msdyn_items", `the schema marks "display": true`},
		{"array", `{"msdyn_pageurl": ["x"]}`, "msdyn_pageurl", "not an object or array"},
		{"null", `{"msdyn_pageurl": null}`, "msdyn_pageurl", "must not be null"},
		{"number for text", `{"msdyn_pageurl": 5}`, "msdyn_pageurl", "not a number"},
		{"string for number", `{"msdyn_items": "3"}`, "msdyn_items", "must be a number, not a string"},
		{"boolean for number", `{"msdyn_items": true}`, "msdyn_items", "not a boolean"},
		{"string for boolean", `{"msdyn_gift": "true"}`, "msdyn_gift", "must be a boolean"},
		{"over max_length", `{"msdyn_pageurl": "` + strings.Repeat("x", 2049) + `"}`, "msdyn_pageurl", "at most 2048"},
		{"number too long", `{"msdyn_items": 1e5000}`, "msdyn_items", "at most 4000"},
		{"outside enum", `{"msdyn_plan": "platinum"}`, "msdyn_plan", "not one of the allowed values"},
		{"pattern not matched", `{"msdyn_ordercode": "AB-12345"}`, "msdyn_ordercode", "does not match"},
		{"pattern matched only in part", `{"msdyn_ordercode": "xAB-1234"}`, "msdyn_ordercode", "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.CheckRequest(request(t, tt.body))
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("CheckRequest error = %v, want *InvalidError", err)
			}
			if ie.FromSession || ie.Variable != tt.wantVar || !strings.Contains(ie.Reason, tt.want) {
				t.Errorf("InvalidError %+v, want variable %q, reason containing %q, from the request", ie, tt.wantVar, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("message %q does not name the key", err)
			}
		})
	}
	if _, err := s.CheckRequest(request(t, `{"msdyn_ordercode": "AB-1234", "msdyn_plan": "basic"}`)); err != nil {
		t.Errorf("valid enum and pattern values refused: %v", err)
	}
}

func TestRequiredRequestVariable(t *testing.T) {
	t.Parallel()
	s := parseOne(t, `{"variables": {"msdyn_pageurl": {"type": "text", "source": "request", "required": true}}}`, DefaultMaxBytes)
	_, err := s.CheckRequest(nil)
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.FromSession || ie.Variable != "msdyn_pageurl" || ie.Reason != "is required" {
		t.Fatalf("CheckRequest(nil) = %v; want msdyn_pageurl is required", err)
	}
}

// TestSessionRefusals has one row per way the session document can break
// the schema: each is the upstream's fault.
func TestSessionRefusals(t *testing.T) {
	t.Parallel()
	s := mustParse(t, EncodingTyped, DefaultMaxBytes)
	tests := []struct {
		name, doc, wantVar, want string
	}{
		{"required absent", `{}`, "msdyn_isvip", "is required"},
		{"required null", `{"vip": null}`, "msdyn_isvip", "is required"},
		{"wrong type", `{"vip": "yes"}`, "msdyn_isvip", "must be a boolean"},
		{"number as string", `{"vip": true, "cart": {"total": "10"}}`, "msdyn_cartvalue", "must be a number, not a string"},
		{"object", `{"vip": true, "cart": {"total": {"amount": 1}}}`, "msdyn_cartvalue", "not an object or array"},
		{"array", `{"vip": [true]}`, "msdyn_isvip", "not an object or array"},
		{"over max_length", `{"vip": true, "profile": {"nick": "annabelle"}}`, "msdyn_nickname", "at most 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Build(doc(t, tt.doc), RequestValues{})
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Build error = %v, want *InvalidError", err)
			}
			if !ie.FromSession || ie.Variable != tt.wantVar || !strings.Contains(ie.Reason, tt.want) {
				t.Errorf("InvalidError %+v, want variable %q, reason containing %q, from the session", ie, tt.wantVar, tt.want)
			}
		})
	}
}

func TestByteLimitBlamesTheRightSide(t *testing.T) {
	t.Parallel()
	schema := `{"variables": {
		"s": {"type": "text", "source": "session", "field": "s"},
		"r": {"type": "text", "source": "request"}}}`
	s := parseOne(t, schema, 100)
	rv, err := s.CheckRequest(request(t, `{"r": "`+strings.Repeat("r", 85)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	// The session's value fits alone; the request's pushes it over: a 400.
	_, err = s.Build(doc(t, `{"s": "short"}`), rv)
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.FromSession {
		t.Errorf("Build = %v; want a request-side refusal", err)
	}
	// The session's value alone is over the limit: the upstream's fault.
	_, err = s.Build(doc(t, `{"s": "`+strings.Repeat("s", 120)+`"}`), rv)
	if !errors.As(err, &ie) || !ie.FromSession {
		t.Errorf("Build = %v; want a session-side refusal", err)
	}
	// At the limit exactly is fine.
	exact := `{"s":"` + strings.Repeat("s", 100-len(`{"s":""}`)) + `"}`
	got, err := s.Build(doc(t, `{"s": "`+strings.Repeat("s", 100-len(`{"s":""}`))+`"}`), RequestValues{})
	if err != nil || got != exact || len(got) != 100 {
		t.Errorf("Build at the limit = %q (%d bytes), %v", got, len(got), err)
	}
}

// TestDisplayWrapsThePrimitive: a display variable of each type and source
// is written as {"value": <primitive>, "isDisplayable": true}, the primitive
// in the schema's encoding, while the other variables stay bare; the limits
// apply to the primitive alone.
func TestDisplayWrapsThePrimitive(t *testing.T) {
	t.Parallel()
	const schema = `{"encoding": %q, "variables": {
		"Name":    {"type": "text",    "source": "session", "field": "name", "display": true, "max_length": 3},
		"Points":  {"type": "number",  "source": "session", "field": "points", "display": true},
		"Vip":     {"type": "boolean", "source": "session", "field": "vip", "display": true},
		"Topic":   {"type": "text",    "source": "request", "display": true, "enum": ["billing", "returns"]},
		"Channel": {"type": "text",    "source": "static",  "value": "web", "display": true},
		"Page":    {"type": "text",    "source": "request", "display": false},
		"Plain":   {"type": "number",  "source": "session", "field": "points"}
	}}`
	session := `{"name": "Ann", "points": 1.20e3, "vip": true}`
	tests := []struct {
		encoding, want string
	}{
		{EncodingString, `{"Channel":{"value":"web","isDisplayable":true},"Name":{"value":"Ann","isDisplayable":true},"Page":"https://shop.example/","Plain":"1200","Points":{"value":"1200","isDisplayable":true},"Topic":{"value":"billing","isDisplayable":true},"Vip":{"value":"true","isDisplayable":true}}`},
		{EncodingTyped, `{"Channel":{"value":"web","isDisplayable":true},"Name":{"value":"Ann","isDisplayable":true},"Page":"https://shop.example/","Plain":1200,"Points":{"value":1200,"isDisplayable":true},"Topic":{"value":"billing","isDisplayable":true},"Vip":{"value":true,"isDisplayable":true}}`},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			t.Parallel()
			s := parseOne(t, fmt.Sprintf(schema, tt.encoding), DefaultMaxBytes)
			rv, err := s.CheckRequest(request(t, `{"Topic": "billing", "Page": "https://shop.example/"}`))
			if err != nil {
				t.Fatalf("CheckRequest: %v", err)
			}
			got, err := s.Build(doc(t, session), rv)
			if err != nil || got != tt.want {
				t.Errorf("Build =\n%s, %v\nwant\n%s", got, err, tt.want)
			}
			// max_length and enum judge the primitive, not its wrapper.
			if _, err := s.Build(doc(t, `{"name": "Anna"}`), RequestValues{}); err == nil || !strings.Contains(err.Error(), "at most 3") {
				t.Errorf("a 4-character display value: %v, want refused at most 3", err)
			}
			if _, err := s.CheckRequest(request(t, `{"Topic": "other"}`)); err == nil || !strings.Contains(err.Error(), "not one of the allowed values") {
				t.Errorf("a display value outside the enum: %v", err)
			}
		})
	}
}

// TestDisplayCountsAgainstTheByteLimit: the wrapper is part of the claim
// the byte limit bounds, and the request is blamed when its displayable
// value pushes the claim over.
func TestDisplayCountsAgainstTheByteLimit(t *testing.T) {
	t.Parallel()
	s := parseOne(t, `{"variables": {"r": {"type": "text", "source": "request", "display": true}}}`, 40)
	fits := strings.Repeat("r", 40-len(`{"r":{"value":"","isDisplayable":true}}`))
	for value, wantErr := range map[string]bool{fits: false, fits + "r": true} {
		rv, err := s.CheckRequest(request(t, `{"r": "`+value+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Build(jsondoc.Document{}, rv)
		var ie *InvalidError
		switch {
		case wantErr && (!errors.As(err, &ie) || ie.FromSession):
			t.Errorf("%d-character value: Build = %q, %v; want a request-side refusal", len(value), got, err)
		case !wantErr && (err != nil || len(got) != 40):
			t.Errorf("%d-character value: Build = %q (%d bytes), %v; want exactly 40 bytes", len(value), got, len(got), err)
		}
	}
}

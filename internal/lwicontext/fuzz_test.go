package lwicontext

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var plainNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$`)

// FuzzCheckRequest feeds the request-context validator arbitrary bodies:
// it must never panic, and whatever it accepts must serialize to a flat
// JSON object of strings within the byte limit, a display variable's string
// wrapped in {"value": ..., "isDisplayable": true} and no other.
func FuzzCheckRequest(f *testing.F) {
	for _, seed := range []string{
		`{"msdyn_pageurl":"https://shop.example/"}`,
		`{"msdyn_items":1e400}`, `{"msdyn_items":-0.0000}`, `{"msdyn_gift":true}`,
		`{"msdyn_plan":"gold","msdyn_ordercode":"AB-1234"}`, `{"msdyn_pageurl":null}`, `{"x":{}}`,
		`{"msdyn_items":{"value":3,"isDisplayable":true}}`,
	} {
		f.Add(seed)
	}
	schema := mustParse(f, EncodingString, DefaultMaxBytes)
	f.Fuzz(func(t *testing.T, body string) {
		var raw map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &raw) != nil {
			return
		}
		rv, err := schema.CheckRequest(raw)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.FromSession {
				t.Fatalf("a request refusal of the wrong kind: %v", err)
			}
			return
		}
		out, err := schema.Build(doc(t, `{"vip": true}`), rv)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Build: %v", err)
			}
			return
		}
		if len(out) > DefaultMaxBytes {
			t.Fatalf("the claim is %d bytes, over the limit", len(out))
		}
		var claim map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &claim); err != nil {
			t.Fatalf("the claim %q is not a JSON object: %v", out, err)
		}
		for _, v := range schema.Variables() {
			raw, ok := claim[v.Name]
			if !ok {
				continue
			}
			if v.Display {
				var d struct {
					Value         *string
					IsDisplayable bool
				}
				if err := strictDecode(raw, &d); err != nil || d.Value == nil || !d.IsDisplayable {
					t.Fatalf("display variable %s is %s, not {\"value\": string, \"isDisplayable\": true}", v.Name, raw)
				}
				raw, _ = json.Marshal(*d.Value)
			}
			var text string
			if err := json.Unmarshal(raw, &text); err != nil {
				t.Fatalf("variable %s is %s, not a string", v.Name, raw)
			}
			if v.Type == TypeNumber && !plainNumber.MatchString(text) {
				t.Fatalf("number %s is not in plain decimal: %q", v.Name, text)
			}
		}
	})
}

// FuzzPlainDecimal checks the number printer against the JSON grammar: any
// valid JSON number is either refused as too long or printed as a plain
// decimal that parses back to the same value.
func FuzzPlainDecimal(f *testing.F) {
	for _, seed := range []string{"0", "-0", "1e4", "1.50", "1.5e-3", "123456789012345678901234567890", "1E+2"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, num string) {
		var n json.Number
		if json.Unmarshal([]byte(num), &n) != nil || !json.Valid([]byte(num)) {
			return
		}
		out, err := plainDecimal(string(n), MaxValueLength)
		if err != nil {
			return
		}
		if strings.ContainsAny(out, "eE+") || len(out) > MaxValueLength {
			t.Fatalf("plainDecimal(%q) = %q", num, out)
		}
		var a, b float64
		if json.Unmarshal([]byte(num), &a) == nil && json.Unmarshal([]byte(out), &b) == nil && a != b {
			t.Fatalf("plainDecimal(%q) = %q changes the value", num, out)
		}
	})
}

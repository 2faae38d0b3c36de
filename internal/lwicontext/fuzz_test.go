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
// JSON object of strings within the byte limit.
func FuzzCheckRequest(f *testing.F) {
	for _, seed := range []string{
		`{"msdyn_pageurl":"https://shop.example/"}`,
		`{"msdyn_items":1e400}`, `{"msdyn_items":-0.0000}`, `{"msdyn_gift":true}`,
		`{"msdyn_plan":"gold","msdyn_ordercode":"AB-1234"}`, `{"msdyn_pageurl":null}`, `{"x":{}}`,
	} {
		f.Add(seed)
	}
	schema, err := Parse([]byte(strings.Replace(exampleSchema, "%q", `"string"`, 1)), DefaultMaxBytes)
	if err != nil {
		f.Fatal(err)
	}
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
		var flat map[string]string
		if err := json.Unmarshal([]byte(out), &flat); err != nil {
			t.Fatalf("the claim %q is not a flat object of strings: %v", out, err)
		}
		for _, v := range schema.Variables() {
			if n, ok := flat[v.Name]; ok && v.Type == TypeNumber && !plainNumber.MatchString(n) {
				t.Fatalf("number %s is not in plain decimal: %q", v.Name, n)
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

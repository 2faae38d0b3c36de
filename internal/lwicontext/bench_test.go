package lwicontext

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chattoken/chattoken/internal/jsondoc"
)

// benchSchema is a realistic four-variable schema, one of each kind a
// workstream typically has: a number and a boolean from the session, a page
// URL from the browser (with a pattern, so the per-request regexp match is
// measured) and a static channel.
const benchSchema = `{
  "encoding": %q,
  "variables": {
    "msdyn_cartvalue": {"type": "number",  "source": "session", "field": "cart.total"},
    "msdyn_isvip":     {"type": "boolean", "source": "session", "field": "vip", "required": true},
    "msdyn_pageurl":   {"type": "text",    "source": "request", "max_length": 2048, "pattern": "https://[^ ]+"},
    "msdyn_channel":   {"type": "text",    "source": "static",  "value": "web"}
  }
}`

// benchInputs returns the parsed schema, a session document as the
// introspect source decodes it (json.Number) and a request context as the
// /token handler decodes it.
func benchInputs(b *testing.B, encoding string) (*Schema, jsondoc.Document, map[string]json.RawMessage) {
	b.Helper()
	s := parseOne(b, string(fmt.Appendf(nil, benchSchema, encoding)), DefaultMaxBytes)
	doc := jsondoc.Document{
		"sub":  "0f8fad5b-d9cb-469f-a165-70867728950e",
		"cart": map[string]any{"total": json.Number("129.90")},
		"vip":  true,
	}
	req := map[string]json.RawMessage{"msdyn_pageurl": json.RawMessage(`"https://shop.example/cart?step=2"`)}
	return s, doc, req
}

// BenchmarkContext measures the per-request context work: validating the
// browser's values (CheckRequest), reading the session's and serializing the
// claim (Build), and both together, for each encoding.
func BenchmarkContext(b *testing.B) {
	for _, encoding := range []string{EncodingString, EncodingTyped} {
		s, doc, raw := benchInputs(b, encoding)
		b.Run(encoding+"/CheckRequest", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.CheckRequest(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		rv, err := s.CheckRequest(raw)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(encoding+"/Build", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if out, err := s.Build(doc, rv); err != nil || out == "" {
					b.Fatal(out, err)
				}
			}
		})
		b.Run(encoding+"/CheckRequest+Build", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rv, err := s.CheckRequest(raw)
				if err != nil {
					b.Fatal(err)
				}
				if out, err := s.Build(doc, rv); err != nil || out == "" {
					b.Fatal(out, err)
				}
			}
		})
	}
	// A GET /token carries no context: only the session's and static values.
	s, doc, _ := benchInputs(b, EncodingString)
	b.Run("string/Build-no-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rv, err := s.CheckRequest(nil)
			if err != nil {
				b.Fatal(err)
			}
			if out, err := s.Build(doc, rv); err != nil || out == "" {
				b.Fatal(out, err)
			}
		}
	})
}

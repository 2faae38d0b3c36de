package integration

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

// displaySchema has a display variable of each source and type beside a
// plain one, in the encoding given.
const displaySchema = `{"encoding": %q, "variables": {
  "Name":    {"type": "text",    "source": "session", "field": "contact.name", "display": true},
  "Points":  {"type": "number",  "source": "session", "field": "points", "display": true},
  "Vip":     {"type": "boolean", "source": "session", "field": "vip", "display": true},
  "Topic":   {"type": "text",    "source": "request", "display": true, "max_length": 8},
  "Channel": {"type": "text",    "source": "static",  "value": "web", "display": true},
  "Page":    {"type": "text",    "source": "request"}
}}`

// TestDisplayVariablesInBothEncodings: a display variable reaches the token
// as {"value": <primitive>, "isDisplayable": true}, the primitive in the
// schema's encoding, and the other variables stay bare.
func TestDisplayVariablesInBothEncodings(t *testing.T) {
	t.Parallel()
	upstream := harness.NewSessionUpstream(t)
	upstream.AddSession("ann", `{"contact":{"id":"c-ann","name":"Ann Lee"},"points":1.2e3,"vip":false}`)
	body := `{"context":{"Topic":"returns","Page":"https://shop.example/"}}`
	tests := map[string]string{
		"string": `{"Channel":{"value":"web","isDisplayable":true},"Name":{"value":"Ann Lee","isDisplayable":true},` +
			`"Page":"https://shop.example/","Points":{"value":"1200","isDisplayable":true},` +
			`"Topic":{"value":"returns","isDisplayable":true},"Vip":{"value":"false","isDisplayable":true}}`,
		"typed": `{"Channel":{"value":"web","isDisplayable":true},"Name":{"value":"Ann Lee","isDisplayable":true},` +
			`"Page":"https://shop.example/","Points":{"value":1200,"isDisplayable":true},` +
			`"Topic":{"value":"returns","isDisplayable":true},"Vip":{"value":false,"isDisplayable":true}}`,
	}
	for encoding, want := range tests {
		t.Run(encoding, func(t *testing.T) {
			t.Parallel()
			env, key := rsaEnv(t, upstream)
			env["CHATTOKEN_CONTEXT_FILE"] = harness.WriteFile(t, "context.json", fmt.Appendf(nil, displaySchema, encoding))
			svc := harness.Start(t, env)
			if got, _ := lwicontexts(t, svc, key, "ann", body); got != want {
				t.Errorf("lwicontexts =\n%s\nwant\n%s", got, want)
			}
			// The limits judge the value the page sends, and the page
			// sends it bare: the displayable form is the service's to write.
			checkRefusal(t, svc, "ann", "application/json", `{"context":{"Topic":"exchanges"}}`,
				http.StatusBadRequest, "invalid_context", `"Topic" is 9 characters long; at most 8`)
			checkRefusal(t, svc, "ann", "application/json", `{"context":{"Topic":{"value":"returns","isDisplayable":true}}}`,
				http.StatusBadRequest, "invalid_context", `marks "display": true`)
		})
	}
}

func TestDisplayMalformedRefusedAtStart(t *testing.T) {
	t.Parallel()
	checkContextFileRefusals(t, []contextFileRefusal{
		{"a string", `{"variables": {"Name": {"type": "text", "source": "request", "display": "true"}}}`,
			`CHATTOKEN_CONTEXT_FILE: context variable "Name": display must be true or false, not a string`},
		{"null", `{"variables": {"Name": {"type": "text", "source": "request", "display": null}}}`,
			`CHATTOKEN_CONTEXT_FILE: context variable "Name": display must be true or false, not null`},
		{"an object over several lines", "{\"variables\": {\"Name\": {\"type\": \"text\", \"source\": \"request\", \"display\": {\n\"on\": 1}}}}",
			`CHATTOKEN_CONTEXT_FILE: context variable "Name": display must be true or false, not an object`},
		{"in a widget", `{"widgets": {"support": {"variables": {"Name": {"type": "text", "source": "request", "display": 1}}}}}`,
			`CHATTOKEN_CONTEXT_FILE: widget "support": context variable "Name": display must be true or false, not a number`},
		{"a static value in the displayable form", `{"variables": {"Channel": {"type": "text", "source": "static", "value": {"value": "web", "isDisplayable": true}}}}`,
			`CHATTOKEN_CONTEXT_FILE: context variable "Channel": value: must be a string, number or boolean`},
	})
}

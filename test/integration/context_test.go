package integration

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chattoken/chattoken/test/harness"
)

const contextSchema = `{
  "encoding": %q,
  "variables": {
    "msdyn_cartvalue": {"type": "number",  "source": "session", "field": "cart.total"},
    "msdyn_isvip":     {"type": "boolean", "source": "session", "field": "vip", "required": true},
    "msdyn_pageurl":   {"type": "text",    "source": "request", "max_length": 2048},
    "msdyn_channel":   {"type": "text",    "source": "static",  "value": "web"},
    "msdyn_plan":      {"type": "text",    "source": "request", "enum": ["basic", "gold"]},
    "msdyn_ordercode": {"type": "text",    "source": "request", "pattern": "[A-Z]{2}-[0-9]{4}"},
    "msdyn_items":     {"type": "number",  "source": "request"},
    "msdyn_note":      {"type": "text",    "source": "session", "field": "note"}
  }
}`

// contextService starts the binary with the context schema in encoding and
// sessions covering every session-side case.
func contextService(t *testing.T, encoding string, extra map[string]string) (*harness.Service, *rsa.PrivateKey) {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	for cookie, doc := range map[string]string{
		"ann":        `{"contact":{"id":"c-ann"},"cart":{"total":1e4},"vip":false}`,
		"bob":        `{"contact":{"id":"c-bob"},"cart":{"total":12.50},"vip":true,"note":"likes <b>bold</b> & \"quotes\""}`,
		"novip":      `{"contact":{"id":"c-novip"},"cart":{"total":1}}`,
		"nullvip":    `{"contact":{"id":"c-nullvip"},"vip":null}`,
		"stringcart": `{"contact":{"id":"c-s"},"cart":{"total":"10000"},"vip":true}`,
		"objectvip":  `{"contact":{"id":"c-o"},"vip":{"level":1}}`,
		"bignote":    `{"contact":{"id":"c-big"},"vip":true,"note":"` + strings.Repeat("n", 3990) + `"}`,
		"midnote":    `{"contact":{"id":"c-mid"},"vip":true,"note":"` + strings.Repeat("n", 1900) + `"}`,
	} {
		upstream.AddSession(cookie, doc)
	}
	env, key := rsaEnv(t, upstream)
	env["CHATTOKEN_CONTEXT_FILE"] = harness.WriteFile(t, "context.json", fmt.Appendf(nil, contextSchema, encoding))
	env["CHATTOKEN_MAX_CONTEXT_BYTES"] = "2048"
	for k, v := range extra {
		env[k] = v
	}
	return harness.Start(t, env), key
}

// lwicontexts fetches a token, verifies it and returns its lwicontexts claim
// exactly as signed (absent: "", false).
func lwicontexts(t *testing.T, svc *harness.Service, key *rsa.PrivateKey, cookie, body string) (string, bool) {
	t.Helper()
	return lwicontextsAt(t, svc.URL+"/token", key, cookie, body)
}

// lwicontextsAt is lwicontexts for the token URL url, which may carry a
// query.
func lwicontextsAt(t *testing.T, url string, key *rsa.PrivateKey, cookie, body string) (string, bool) {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	resp, data := harness.Do(t, http.MethodPost, url, cookie, contentType, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/token: %d %s", resp.StatusCode, data)
	}
	v, ok := verifiedClaims(t, data, &key.PublicKey)["lwicontexts"]
	if !ok {
		return "", false
	}
	s, isString := v.(string)
	if !isString {
		t.Fatalf("lwicontexts is a %T, want a string holding JSON", v)
	}
	return s, true
}

func TestContextVariablesInBothEncodings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		encoding, cookie, body, want string
	}{
		{"string", "ann", `{"context":{"msdyn_pageurl":"https://shop.example/cart"}}`,
			`{"msdyn_cartvalue":"10000","msdyn_channel":"web","msdyn_isvip":"false","msdyn_pageurl":"https://shop.example/cart"}`},
		{"string", "bob", `{"context":{"msdyn_items":3,"msdyn_plan":"gold","msdyn_ordercode":"AB-1234"}}`,
			`{"msdyn_cartvalue":"12.5","msdyn_channel":"web","msdyn_isvip":"true","msdyn_items":"3","msdyn_note":"likes <b>bold</b> & \"quotes\"","msdyn_ordercode":"AB-1234","msdyn_plan":"gold"}`},
		{"string", "ann", "",
			`{"msdyn_cartvalue":"10000","msdyn_channel":"web","msdyn_isvip":"false"}`},
		{"typed", "ann", `{"context":{"msdyn_pageurl":"https://shop.example/cart"}}`,
			`{"msdyn_cartvalue":10000,"msdyn_channel":"web","msdyn_isvip":false,"msdyn_pageurl":"https://shop.example/cart"}`},
		{"typed", "bob", `{"context":{"msdyn_items":2.50e1}}`,
			`{"msdyn_cartvalue":12.5,"msdyn_channel":"web","msdyn_isvip":true,"msdyn_items":25,"msdyn_note":"likes <b>bold</b> & \"quotes\""}`},
	}
	services := map[string]*harness.Service{}
	keys := map[string]*rsa.PrivateKey{}
	for _, enc := range []string{"string", "typed"} {
		services[enc], keys[enc] = contextService(t, enc, nil)
	}
	for _, tt := range tests {
		t.Run(tt.encoding+" "+tt.cookie+" "+tt.body, func(t *testing.T) {
			t.Parallel()
			got, ok := lwicontexts(t, services[tt.encoding], keys[tt.encoding], tt.cookie, tt.body)
			if !ok || got != tt.want {
				t.Errorf("lwicontexts =\n%s\nwant\n%s", got, tt.want)
			}
			var flat map[string]any
			if err := json.Unmarshal([]byte(got), &flat); err != nil {
				t.Errorf("lwicontexts does not parse as a JSON object: %v", err)
			}
		})
	}
}

func TestContextRefusals(t *testing.T) {
	t.Parallel()
	svc, _ := contextService(t, "string", nil)
	tests := []struct {
		name, cookie, contentType, body string
		status                          int
		code, detail                    string
	}{
		{"unknown key", "ann", "application/json", `{"context":{"msdyn_other":"x"}}`, 400, "invalid_context", `"msdyn_other" is not in the context schema`},
		{"request sets a session value", "ann", "application/json", `{"context":{"msdyn_isvip":true}}`, 400, "invalid_context", `"msdyn_isvip" comes from the session`},
		{"request overrides a static value", "ann", "application/json", `{"context":{"msdyn_channel":"phone"}}`, 400, "invalid_context", `"msdyn_channel" comes from the static`},
		{"object value", "ann", "application/json", `{"context":{"msdyn_pageurl":{"a":1}}}`, 400, "invalid_context", `"msdyn_pageurl" must be a string, number or boolean`},
		{"array value", "ann", "application/json", `{"context":{"msdyn_pageurl":["a"]}}`, 400, "invalid_context", `"msdyn_pageurl" must be a string, number or boolean`},
		{"null value", "ann", "application/json", `{"context":{"msdyn_pageurl":null}}`, 400, "invalid_context", `"msdyn_pageurl" must not be null`},
		{"wrong type", "ann", "application/json", `{"context":{"msdyn_items":"3"}}`, 400, "invalid_context", `"msdyn_items" must be a number`},
		{"over max_length", "ann", "application/json", `{"context":{"msdyn_pageurl":"` + strings.Repeat("u", 2049) + `"}}`, 400, "invalid_context", `"msdyn_pageurl" is 2049 characters long`},
		{"outside enum", "ann", "application/json", `{"context":{"msdyn_plan":"platinum"}}`, 400, "invalid_context", `"msdyn_plan" is not one of the allowed values`},
		{"pattern mismatch", "ann", "application/json", `{"context":{"msdyn_ordercode":"ab-1234"}}`, 400, "invalid_context", `"msdyn_ordercode" does not match`},
		{"request values over the byte limit", "midnote", "application/json", `{"context":{"msdyn_pageurl":"` + strings.Repeat("u", 200) + `"}}`, 400, "invalid_context", "serialize to"},
		{"body over 16 KiB", "ann", "application/json", `{"context":{"msdyn_pageurl":"` + strings.Repeat("u", 17<<10) + `"}}`, 413, "payload_too_large", "16384"},
		{"not JSON content type", "ann", "text/plain", `{"context":{}}`, 415, "unsupported_media_type", "application/json"},
		{"JSON that does not parse", "ann", "application/json", `{"context":{"msdyn_pageurl":"x"`, 400, "invalid_request", ""},
		{"session value of the wrong type", "stringcart", "", "", 502, "invalid_session_document", ""},
		{"session value not primitive", "objectvip", "", "", 502, "invalid_session_document", ""},
		{"required session value absent", "novip", "", "", 502, "invalid_session_document", ""},
		{"required session value null", "nullvip", "", "", 502, "invalid_session_document", ""},
		{"session values over the byte limit", "bignote", "", "", 502, "invalid_session_document", ""},
		{"not signed in, bad context checked first", "", "application/json", `{"context":{"msdyn_other":"x"}}`, 400, "invalid_context", ""},
		// Member names match exactly, and no member may appear twice:
		// parsers disagree on which copy wins.
		{"member name in another case", "ann", "application/json", `{"CONTEXT":{"msdyn_pageurl":"x"}}`, 400, "invalid_request", "case-sensitive"},
		{"context twice", "ann", "application/json", `{"context":{"msdyn_plan":"basic"},"context":{"msdyn_plan":"gold"}}`, 400, "invalid_request", "more than once"},
		{"variable twice", "ann", "application/json", `{"context":{"msdyn_plan":"basic","msdyn_plan":"gold"}}`, 400, "invalid_request", "more than once"},
		{"variable name in another case", "ann", "application/json", `{"context":{"MSDYN_PLAN":"gold"}}`, 400, "invalid_context", `"MSDYN_PLAN" is not in the context schema`},
		{"control character", "ann", "application/json", `{"context":{"msdyn_pageurl":"https://shop.example/\u001b[2J"}}`, 400, "invalid_context", "control character"},
		{"NUL", "ann", "application/json", `{"context":{"msdyn_pageurl":"a\u0000b"}}`, 400, "invalid_context", "control character"},
		{"DEL", "ann", "application/json", `{"context":{"msdyn_pageurl":"a\u007fb"}}`, 400, "invalid_context", "control character"},
		{"escaped newline", "ann", "application/json", "{\"context\":{\"msdyn_pageurl\":\"a\\nb\"}}", 400, "invalid_context", "control character"},
	}
	// The group returns once its parallel subtests are done, so the log
	// check below sees all of them.
	t.Run("each refusal", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				checkRefusal(t, svc, tt.cookie, tt.contentType, tt.body, tt.status, tt.code, tt.detail)
			})
		}
	})
	// A session-side refusal names the variable in the log, not to the client.
	if logs := svc.Logs(`context variable \"msdyn_cartvalue\"`); !strings.Contains(logs, `context variable \"msdyn_cartvalue\"`) {
		t.Errorf("the 502 log line does not name the variable:\n%s", logs)
	}
}

func checkRefusal(t *testing.T, svc *harness.Service, cookie, contentType, body string, status int, code, detail string) {
	t.Helper()
	checkRefusalAt(t, svc.URL+"/token", cookie, contentType, body, status, code, detail)
}

// checkRefusalAt is checkRefusal for the token URL url, which may carry a
// query.
func checkRefusalAt(t *testing.T, url, cookie, contentType, body string, status int, code, detail string) {
	t.Helper()
	resp, data := harness.Do(t, http.MethodPost, url, cookie, contentType, body)
	var p struct {
		Status       int
		Code, Detail string
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, data, err)
	}
	if resp.StatusCode != status || p.Code != code || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s, want %d %s", resp.StatusCode, data, status, code)
	}
	if !strings.Contains(p.Detail, detail) {
		t.Errorf("detail %q, want it to contain %q", p.Detail, detail)
	}
}

// contextFileRefusal is a schema file the binary must refuse at start,
// and what its one line of error must say.
type contextFileRefusal struct {
	name, file, want string
}

// checkContextFileRefusals starts the binary with each file as
// CHATTOKEN_CONTEXT_FILE and expects exit 2 with one line naming the
// variable and saying want.
func checkContextFileRefusals(t *testing.T, tests []contextFileRefusal) {
	t.Helper()
	upstream := harness.NewSessionUpstream(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, _ := rsaEnv(t, upstream)
			env["CHATTOKEN_CONTEXT_FILE"] = harness.WriteFile(t, "context.json", []byte(tt.file))
			if line := harness.RequireConfigError(t, env, "CHATTOKEN_CONTEXT_FILE"); !strings.Contains(line, tt.want) {
				t.Errorf("%q, want it to contain %q", line, tt.want)
			}
		})
	}
}

func TestBadContextFileExits2(t *testing.T) {
	t.Parallel()
	checkContextFileRefusals(t, []contextFileRefusal{
		{"unknown type", `{"variables":{"msdyn_x":{"type":"date","source":"request"}}}`, `CHATTOKEN_CONTEXT_FILE: context variable "msdyn_x": type must be`},
		{"bad pattern", `{"variables":{"msdyn_x":{"type":"text","source":"request","pattern":"(("}}}`, `CHATTOKEN_CONTEXT_FILE: context variable "msdyn_x": pattern`},
		{"unknown field", `{"variables":{"msdyn_x":{"type":"text","source":"request","maxlength":3}}}`, `CHATTOKEN_CONTEXT_FILE: context variable "msdyn_x": json: unknown field "maxlength"`},
		{"not JSON", `variables:`, `CHATTOKEN_CONTEXT_FILE: not a valid schema`},
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	svc, _ := contextService(t, "string", map[string]string{
		"CHATTOKEN_CORS_ORIGINS": "https://shop.example,http://127.0.0.1:3000",
	})
	request := func(method, origin string, headers map[string]string) *http.Response {
		req, _ := http.NewRequest(method, svc.URL+"/token", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Cookie", "session=ann")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}

	t.Run("allowed origin reads the token with credentials", func(t *testing.T) {
		resp := request(http.MethodGet, "http://127.0.0.1:3000", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:3000" ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("allowed origin preflight", func(t *testing.T) {
		resp := request(http.MethodOptions, "https://shop.example", preflight)
		h := resp.Header
		if resp.StatusCode/100 != 2 || h.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
			h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Allow-Methods") != "POST" ||
			!strings.EqualFold(h.Get("Access-Control-Allow-Headers"), "content-type") {
			t.Errorf("%d %v", resp.StatusCode, h)
		}
	})
	for name, origin := range map[string]string{"other site": "https://evil.example", "lookalike": "https://shop.example.evil.example", "null": "null"} {
		t.Run("refused origin gets no CORS headers: "+name, func(t *testing.T) {
			for _, resp := range []*http.Response{request(http.MethodGet, origin, nil), request(http.MethodOptions, origin, preflight)} {
				for k := range resp.Header {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("%s answered with %s: %v", resp.Request.Method, k, resp.Header)
					}
				}
			}
			// The request itself is served: CORS only hides the answer.
			if resp := request(http.MethodGet, origin, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("GET from %s: %d, want 200", origin, resp.StatusCode)
			}
		})
	}
}

// TestNoCORSByDefault: with CHATTOKEN_CORS_ORIGINS unset no origin may read
// a token, however it asks.
func TestNoCORSByDefault(t *testing.T) {
	t.Parallel()
	svc, _ := contextService(t, "string", nil)
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		req, _ := http.NewRequest(method, svc.URL+"/token", nil)
		req.Header.Set("Origin", "https://any.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Cookie", "session=ann")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s with no origins configured answered %s: %v", method, k, resp.Header)
			}
		}
	}
}

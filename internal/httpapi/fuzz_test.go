package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chattoken/chattoken/internal/keys"
)

// fuzzSchema lets the browser send one variable of each type, typed, so
// that every request-side path of the context is reachable; one of them is
// displayed to the agent.
const fuzzSchema = `{
  "encoding": "typed",
  "variables": {
    "msdyn_cartvalue": {"type": "number",  "source": "session", "field": "cart.total"},
    "msdyn_pageurl":   {"type": "text",    "source": "request", "max_length": 2048},
    "msdyn_items":     {"type": "number",  "source": "request"},
    "msdyn_gift":      {"type": "boolean", "source": "request"},
    "msdyn_topic":     {"type": "text",    "source": "request", "display": true},
    "msdyn_channel":   {"type": "text",    "source": "static",  "value": "web"}
  }
}`

// fuzzSecret signs the fuzzed tokens; HS256 keeps each run fast.
var fuzzSecret = bytes.Repeat([]byte("fuzz-secret-"), 4)

// FuzzTokenRequest sends whole requests (any method, headers, query and
// body) to the handler in front of a session that always answers the same
// document. Whatever the browser sends, every claim but lwicontexts is the
// session's or the service's own, and lwicontexts is a flat JSON object of
// primitives, but for the display variable's {"value": primitive,
// "isDisplayable": true}. Any other answer is problem+json with a code.
func FuzzTokenRequest(f *testing.F) {
	for _, seed := range []struct{ method, headers, query, body string }{
		{"GET", "Cookie: session=x", "", ""},
		{"POST", "Content-Type: application/json", "", `{"context":{"msdyn_pageurl":"https://shop.example/","msdyn_items":3,"msdyn_gift":true}}`},
		{"POST", "Content-Type: application/json", "sub=eve", `{"context":{"sub":"eve","iss":"x"}}`},
		{"POST", "Content-Type: application/json; charset=utf-8", "", `{"context":{"msdyn_pageurl":"a\"},\"sub\":\"eve"}}`},
		{"POST", "Content-Type: application/json", "", `{"context":{"msdyn_items":1e400}}`},
		{"POST", "Content-Type: application/json", "", `{"context":{"msdyn_topic":"returns"}}`},
		{"POST", "Content-Type: application/json", "", `{"context":{"msdyn_topic":{"value":"x","isDisplayable":true}}}`},
		{"POST", "Content-Type: application/json", "", `{"CONTEXT":{},"context":{}}`},
		{"HEAD", "X-Forwarded-For: 10.0.0.1\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "", ""},
		{"OPTIONS", "Origin: https://evil.example\nAccess-Control-Request-Method: POST", "", ""},
		{"BREW", "", "", ""},
	} {
		f.Add(seed.method, seed.headers, seed.query, []byte(seed.body))
	}
	set, err := keys.NewHMACSet(fuzzSecret)
	if err != nil {
		f.Fatal(err)
	}
	doc := parseDocument(f, `{"sub":"c-fuzz","email":"fuzz@shop.example","cart":{"total":129.9}}`)
	h := benchHandlerSchema(f, signedIn(doc, nil), set, false, fuzzSchema)

	f.Fuzz(func(t *testing.T, method, headers, query string, body []byte) {
		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: "/token", RawQuery: query},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     parseHeaders(headers),
			Body:       io.NopCloser(bytes.NewReader(body)),
			Host:       "chattoken.test",
			RemoteAddr: "203.0.113.7:40000",
		}
		req.ContentLength = int64(len(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if req.Method == http.MethodHead || (req.Method == http.MethodOptions && rec.Code < 300) {
			return // a HEAD or a preflight: no body to check
		}
		if rec.Code != http.StatusOK {
			var p struct {
				Status int
				Code   string
			}
			if rec.Header().Get("Content-Type") != "application/problem+json" ||
				json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Status != rec.Code || p.Code == "" {
				t.Fatalf("%d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
			}
			return
		}
		var answer struct{ Token string }
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("200 body %q: %v", rec.Body.String(), err)
		}
		checkFuzzedToken(t, answer.Token)
	})
}

// checkFuzzedToken verifies the token and its claims: only lwicontexts may
// carry anything the browser sent.
func checkFuzzedToken(t *testing.T, raw string) {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return fuzzSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithJSONNumber()); err != nil {
		t.Fatalf("the token does not verify: %v", err)
	}
	for name, v := range claims {
		switch name {
		case "sub":
			if v != "c-fuzz" {
				t.Fatalf("sub %q", v)
			}
		case "iss":
			if v != "https://shop.example" {
				t.Fatalf("iss %q", v)
			}
		case "email":
			if v != "fuzz@shop.example" {
				t.Fatalf("email %q", v)
			}
		case "iat", "nbf", "exp":
			if _, ok := v.(json.Number); !ok {
				t.Fatalf("%s is %T", name, v)
			}
		case "jti":
			if s, ok := v.(string); !ok || s == "" {
				t.Fatalf("jti %v", v)
			}
		case "lwicontexts":
			checkFlatContext(t, v)
		default:
			t.Fatalf("an unexpected claim %q", name)
		}
	}
}

func checkFlatContext(t *testing.T, v any) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("lwicontexts is %T, not a string", v)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var ctx map[string]any
	if err := dec.Decode(&ctx); err != nil || dec.More() {
		t.Fatalf("lwicontexts %q is not one JSON object: %v", s, err)
	}
	if ctx["msdyn_channel"] != "web" {
		t.Fatalf("the static value is %v", ctx["msdyn_channel"])
	}
	for name, x := range ctx {
		if name == "msdyn_topic" {
			x = displayedValue(t, x)
		}
		switch x.(type) {
		case string, json.Number, bool:
		default:
			t.Fatalf("lwicontexts member %q is %T", name, x)
		}
	}
}

// displayedValue returns the value of a displayable object, which must be
// exactly {"value": ..., "isDisplayable": true}; the caller checks that the
// value is a primitive.
func displayedValue(t *testing.T, x any) any {
	t.Helper()
	d, ok := x.(map[string]any)
	if !ok || len(d) != 2 || d["isDisplayable"] != true {
		t.Fatalf("the display variable is %#v, not {\"value\": ..., \"isDisplayable\": true}", x)
	}
	return d["value"]
}

// parseHeaders reads "Name: value" lines as the server would, keeping every
// repetition of a name.
func parseHeaders(blob string) http.Header {
	h := http.Header{}
	sc := bufio.NewScanner(strings.NewReader(blob))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name == "" {
			continue
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value))
	}
	return h
}

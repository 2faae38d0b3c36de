package token

import (
	"encoding/json"
	"testing"
)

// TestAppendPayload pins the payload's bytes: compact JSON, claims sorted by
// name, session values as they were (a number keeps its exact text), <, >
// and & not escaped, U+2028 escaped (for the JavaScript that reads
// tokens), no registered claim replaced by an identity claim of its name.
func TestAppendPayload(t *testing.T) {
	t.Parallel()
	p := payload{
		sub: "c-1", iss: "https://shop.example", jti: "j", context: `{"msdyn_channel":"web"}`,
		iat: 1795000000, nbf: 1794999970, exp: 1795000900,
		identity: map[string]any{
			"email": "<ann&co>@shop.example", "credit": json.Number("1.50e3"), "vip": true,
			"name": "Ann\u2028Lee", "sub": "forged", "exp": json.Number("9999999999"),
		},
	}
	got, err := appendPayload(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"credit":1.50e3,"email":"<ann&co>@shop.example","exp":1795000900,"iat":1795000000,` +
		`"iss":"https://shop.example","jti":"j","lwicontexts":"{\"msdyn_channel\":\"web\"}",` +
		`"name":"Ann\u2028Lee","nbf":1794999970,"sub":"c-1","vip":true}`
	if string(got) != want {
		t.Errorf("payload\n %s\nwant\n %s", got, want)
	}

	for name, bad := range map[string]any{"not a number": json.Number("1x"), "an array": []any{}, "null": nil} {
		p.identity = map[string]any{"x": bad}
		if out, err := appendPayload(nil, p); err == nil {
			t.Errorf("%s: appendPayload = %s; want an error", name, out)
		}
	}
}

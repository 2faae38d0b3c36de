package token

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzAppendJSONString: the hand-written encoder must produce JSON that
// decodes to the same string (invalid UTF-8 becomes U+FFFD, as with
// encoding/json).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uo\te`, "\x00\x1f\n\r\t", "é😀", "\u2028\u2029", "\xff\xfe", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not JSON: %v", s, out, err)
		}
		want := s
		if !utf8.ValidString(s) {
			var std string
			enc, _ := json.Marshal(s)
			_ = json.Unmarshal(enc, &std)
			want = std
		}
		if back != want {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}

func TestAppendPrimitive(t *testing.T) {
	t.Parallel()
	for v, want := range map[any]string{"a\"b": `"a\"b"`, json.Number("1e3"): `1e3`, true: `true`, 7: `7`} {
		got, err := appendPrimitive(nil, v)
		if err != nil || string(got) != want {
			t.Errorf("appendPrimitive(%#v) = %s, %v; want %s", v, got, err, want)
		}
	}
	for _, bad := range []any{json.Number("1x"), []any{}, nil} {
		if _, err := appendPrimitive(nil, bad); err == nil {
			t.Errorf("appendPrimitive(%#v) accepted", bad)
		}
	}
}

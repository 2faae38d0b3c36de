package jsonstr

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzAppend: the hand-written encoder must produce JSON that
// decodes to the same string (invalid UTF-8 becomes U+FFFD, as with
// encoding/json).
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uo\te`, "\x00\x1f\n\r\t", "é😀", "\u2028\u2029", "\xff\xfe", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Append(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("Append(%q) = %s: not JSON: %v", s, out, err)
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

package token

import (
	"encoding/json"
	"testing"
)

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

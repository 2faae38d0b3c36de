package jsondoc

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"sub", "sub", ""},
		{"profile.email", "profile.email", ""},
		{"", "", "empty"},
		{".sub", "", "empty segment"},
		{"sub.", "", "empty segment"},
		{"a..b", "", "empty segment"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePath(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePath(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || p.String() != tt.want {
				t.Fatalf("ParsePath(%q) = %q, %v", tt.in, p, err)
			}
		})
	}
}

func TestDocumentGet(t *testing.T) {
	t.Parallel()
	doc, err := Decode(strings.NewReader(`{
		"sub": "c-1",
		"profile": {"email": "a@b.example", "age": 41, "tags": ["x"], "nick": null},
		"cart": {"total": 123456789012345678901234567890},
		"flag": false
	}`), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		want   any
		wantOK bool
	}{
		{"sub", "c-1", true},
		{"profile.email", "a@b.example", true},
		{"profile.age", json.Number("41"), true},
		{"cart.total", json.Number("123456789012345678901234567890"), true},
		{"flag", false, true},
		{"profile.nick", nil, false},
		{"profile.missing", nil, false},
		{"sub.deeper", nil, false},
		{"profile.tags.0", nil, false},
		{"absent", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := doc.Get(p)
			if ok != tt.wantOK || (tt.wantOK && got != tt.want) {
				t.Errorf("Get(%s) = %#v, %v; want %#v, %v", tt.path, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestIsPrimitive(t *testing.T) {
	t.Parallel()
	for _, v := range []any{"s", json.Number("1"), true} {
		if !IsPrimitive(v) {
			t.Errorf("IsPrimitive(%#v) = false", v)
		}
	}
	for _, v := range []any{nil, []any{}, map[string]any{}, 1.5} {
		if IsPrimitive(v) {
			t.Errorf("IsPrimitive(%#v) = true", v)
		}
	}
}

// FuzzPath reads arbitrary dotted paths from an arbitrary document: parsing
// and reading never panic, and a present value is never a JSON null.
func FuzzPath(f *testing.F) {
	f.Add("profile.email", `{"profile":{"email":"a@b"}}`)
	f.Add("a..b", `{"a":{"":{"b":1}}}`)
	f.Add("x.y.z", `{"x":[{"y":1}]}`)
	f.Add("n", `{"n":null}`)
	f.Fuzz(func(t *testing.T, path, document string) {
		p, err := ParsePath(path)
		if err != nil {
			return
		}
		if p.String() != path {
			t.Fatalf("ParsePath(%q).String() = %q", path, p.String())
		}
		d, err := Decode(strings.NewReader(document), 1<<20)
		if err != nil {
			return
		}
		if v, ok := d.Get(p); ok && v == nil {
			t.Fatalf("Get(%q) reported a null as present", path)
		}
	})
}

func TestParseClaims(t *testing.T) {
	t.Parallel()
	fields, err := ParseClaims(" email=email , given_name=profile.first_name,")
	if err != nil || len(fields) != 2 || fields[0].Name != "email" || fields[1].Path.String() != "profile.first_name" {
		t.Fatalf("ParseClaims = %+v, %v", fields, err)
	}
	if fields, err := ParseClaims(""); err != nil || fields != nil {
		t.Errorf("an empty list: %+v, %v", fields, err)
	}
	for list, want := range map[string]string{
		"email":                     "not claim=path",
		"=email":                    "not claim=path",
		"email=":                    "path is empty",
		"email=a..b":                "empty segment",
		"email=email,email=mail":    `claim "email" is listed twice`,
		"sub=user.id":               "set by chattoken itself",
		"email=email,lwicontexts=x": "set by chattoken itself",
	} {
		if _, err := ParseClaims(list); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseClaims(%q) = %v, want %q", list, err, want)
		}
	}
}

func TestJWTType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"JWT": "application/jwt", "at+jwt": "application/at+jwt", "AT+JWT": "application/at+jwt",
		"application/at+JWT": "application/at+jwt", "logout+jwt": "application/logout+jwt",
	} {
		if got, err := JWTType(in); err != nil || got != want {
			t.Errorf("JWTType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a b", "JWT; charset=x", "/"} {
		if got, err := JWTType(bad); err == nil {
			t.Errorf("JWTType(%q) = %q, want an error", bad, got)
		}
	}
}

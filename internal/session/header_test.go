package session

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/chattoken/chattoken/internal/clientip"
	"github.com/chattoken/chattoken/internal/jsondoc"
)

func TestHeaderSource(t *testing.T) {
	t.Parallel()
	trusted, _ := clientip.ParseTrusted("10.0.0.0/8")
	sub, _ := jsondoc.ParsePath("user.id")
	email, _ := jsondoc.ParsePath("user.email")
	src := NewHeader(trusted, sub, "X-Auth-Request-User", []jsondoc.Field{{Name: "X-Auth-Request-Email", Path: email}})

	request := func(peer string, headers map[string]string, appended ...[2]string) error {
		r := httptest.NewRequest("GET", "/token", nil)
		r.RemoteAddr = peer
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		for _, kv := range appended {
			r.Header.Add(kv[0], kv[1])
		}
		doc, err := src.Lookup(context.Background(), r)
		if err == nil {
			if v, _ := doc.Get(sub); v != "ann" {
				t.Errorf("subject %v", v)
			}
			if v, _ := doc.Get(email); v != "ann@shop.example" {
				t.Errorf("email %v", v)
			}
		}
		return err
	}
	identity := map[string]string{"X-Auth-Request-User": "ann", "X-Auth-Request-Email": "ann@shop.example"}
	if err := request("10.1.1.1:443", identity); err != nil {
		t.Fatalf("a trusted proxy's headers were refused: %v", err)
	}
	for name, tc := range map[string]struct {
		peer     string
		headers  map[string]string
		appended [][2]string
	}{
		"forged headers from an untrusted peer": {"203.0.113.9:443", identity, nil},
		"trusted proxy without the subject":     {"10.1.1.1:443", map[string]string{"X-Auth-Request-Email": "x@y"}, nil},
		// A proxy that appends leaves the client's forged value first.
		"subject header twice":      {"10.1.1.1:443", identity, [][2]string{{"X-Auth-Request-User", "bob"}}},
		"claim header twice":        {"10.1.1.1:443", identity, [][2]string{{"X-Auth-Request-Email", "bob@shop.example"}}},
		"subject twice, same value": {"10.1.1.1:443", identity, [][2]string{{"X-Auth-Request-User", "ann"}}},
	} {
		if err := request(tc.peer, tc.headers, tc.appended...); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
}

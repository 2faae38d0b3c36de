package devmode

import (
	"fmt"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/chattoken/chattoken/internal/lwicontext"
)

func TestSignInOut(t *testing.T) {
	t.Parallel()
	s := NewStore()
	id, doc, err := s.SignIn(SignIn{Name: " Ann Example ", CartTotal: jsontext.Value("12.5"), VIP: true})
	if err != nil {
		t.Fatal(err)
	}
	if doc["name"] != "Ann Example" || doc["email"] != "ann.example@example.com" || doc["vip"] != true {
		t.Errorf("doc %v", doc)
	}
	if got, ok := s.Lookup(id); !ok || got["sub"] != doc["sub"] {
		t.Fatalf("Lookup = %v, %v", got, ok)
	}
	id2, doc2, _ := s.SignIn(SignIn{Name: "ann example"})
	if id2 == id || doc2["sub"] != doc["sub"] {
		t.Errorf("the same person signing in again: id %q vs %q, sub %v vs %v", id2, id, doc2["sub"], doc["sub"])
	}
	s.SignOut(id)
	if _, ok := s.Lookup(id); ok {
		t.Error("the session survived sign-out")
	}
	for _, bad := range []SignIn{{Name: ""}, {Name: "x", CartTotal: jsontext.Value("-1")}, {Name: "x", CartTotal: jsontext.Value(`"12"`)}} {
		if _, _, err := s.SignIn(bad); err == nil {
			t.Errorf("SignIn(%+v) accepted", bad)
		}
	}
}

func TestStoreIsBounded(t *testing.T) {
	t.Parallel()
	s := NewStore()
	first, _, _ := s.SignIn(SignIn{Name: "first"})
	for i := range maxSessions {
		if _, _, err := s.SignIn(SignIn{Name: fmt.Sprint("user", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.Lookup(first); ok {
		t.Error("the oldest session was kept past the bound")
	}
	if len(s.sessions) != maxSessions || len(s.order) != maxSessions {
		t.Errorf("%d sessions, %d in order; want %d", len(s.sessions), len(s.order), maxSessions)
	}
}

func TestDemoSchemaParses(t *testing.T) {
	t.Parallel()
	if _, err := lwicontext.Parse([]byte(Schema), lwicontext.DefaultMaxBytes); err != nil {
		t.Fatal(err)
	}
}

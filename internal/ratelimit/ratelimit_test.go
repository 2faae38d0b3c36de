package ratelimit

import (
	"context"
	"testing"
)

func TestLocal(t *testing.T) {
	t.Parallel()
	l := NewLocal(3)
	ctx := context.Background()
	for i := range 3 {
		if ok, _, err := l.Allow(ctx, "sub:ann"); !ok || err != nil {
			t.Fatalf("request %d refused: %v", i+1, err)
		}
	}
	ok, retry, err := l.Allow(ctx, "sub:ann")
	if ok || err != nil || retry <= 0 {
		t.Fatalf("the 4th request: allowed %v, retry %s, %v; want refused with a retry time", ok, retry, err)
	}
	if ok, _, _ := l.Allow(ctx, "sub:bob"); !ok {
		t.Error("another key shares ann's count")
	}
}

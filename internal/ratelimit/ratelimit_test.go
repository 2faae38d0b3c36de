package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
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

// switchable stands in for Redis: it allows everything while up, fails
// while down, and counts how often it is asked.
type switchable struct {
	down  atomic.Bool
	asked atomic.Int32
}

var errUnreachable = errors.New("dial tcp: connection refused")

func (s *switchable) Allow(ctx context.Context, _ string) (bool, time.Duration, error) {
	s.asked.Add(1)
	if err := ctx.Err(); err != nil {
		return true, 0, err
	}
	if s.down.Load() {
		return true, 0, errUnreachable
	}
	return true, 0, nil
}

func TestFallback(t *testing.T) {
	t.Parallel()
	// The bubble's clock moves only when the test sleeps, so "within the
	// retry interval" is exact however loaded the machine is.
	synctest.Test(t, func(t *testing.T) {
		redis := &switchable{}
		var switches []string
		f := NewFallback(redis, NewLocal(2), time.Second, func(backend string) { switches = append(switches, backend) })
		ctx := context.Background()
		allow := func() (bool, error) {
			ok, _, err := f.Allow(ctx, "sub:ann")
			return ok, err
		}

		for range 3 {
			if ok, err := allow(); !ok || err != nil {
				t.Fatalf("with Redis up: allowed %v, %v", ok, err)
			}
		}
		if redis.asked.Load() != 3 || len(switches) != 0 {
			t.Fatalf("with Redis up it was asked %d times, switches %v", redis.asked.Load(), switches)
		}
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := f.Allow(gone, "sub:bob"); err != nil || len(switches) != 0 {
			t.Fatalf("a request whose client left: %v, switches %v; that is no Redis outage", err, switches)
		}

		redis.down.Store(true)
		if ok, err := allow(); !ok || !errors.Is(err, errUnreachable) {
			t.Fatalf("the first request with Redis down: allowed %v, %v; want allowed with Redis's error", ok, err)
		}
		if ok, err := allow(); !ok || err != nil {
			t.Fatalf("the second request: allowed %v, %v; want allowed by the local count without asking Redis", ok, err)
		}
		if ok, retry, err := f.Allow(ctx, "sub:ann"); ok || retry <= 0 || err != nil {
			t.Fatalf("the third request: allowed %v, retry %s, %v; the local limit of 2 must hold", ok, retry, err)
		}
		if got := redis.asked.Load(); got != 5 {
			t.Fatalf("Redis was asked %d times; once within the retry interval is all", got)
		}

		time.Sleep(time.Second)
		if ok, err := allow(); ok || !errors.Is(err, errUnreachable) {
			t.Fatalf("after the interval: allowed %v, %v; want Redis asked again and the local count refusing", ok, err)
		}
		_, _ = allow()
		if got := redis.asked.Load(); got != 6 {
			t.Fatalf("Redis was asked %d times; once per interval while down", got)
		}

		redis.down.Store(false)
		time.Sleep(time.Second)
		if ok, err := allow(); !ok || err != nil {
			t.Fatalf("Redis back: allowed %v, %v; want Redis's answer, not the exhausted local count", ok, err)
		}
		if ok, err := allow(); !ok || err != nil || redis.asked.Load() != 8 {
			t.Fatalf("after Redis came back: allowed %v, %v, asked %d times; want every request in Redis again", ok, err, redis.asked.Load())
		}
		if fmt.Sprint(switches) != "[local redis]" {
			t.Errorf("switches %v, want to local once and back once", switches)
		}
	})
}

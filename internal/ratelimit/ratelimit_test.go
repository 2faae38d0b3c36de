package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chattoken/chattoken/test/harness"
)

// TestLimitersAgree runs one table against both limiters: the one counting
// in this process and the one counting in a real Redis. Both must allow the
// same bursts, refill at the same pace and name the same wait, so that a
// limit behaves the same whether Redis is configured, up or down.
func TestLimitersAgree(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(redisOptions(t, harness.StartRedis(t)))
	t.Cleanup(func() { _ = rdb.Close() })

	// A step makes requests one after the other, after waiting; the whole
	// table runs in real time, because Redis keeps its own clock.
	type step struct {
		wait     time.Duration
		requests int
		// allowed is how many of them are allowed; the first refused one
		// must be told to wait retry (less the time the step took).
		allowed int
		retry   time.Duration
	}
	tests := []struct {
		name      string
		perMinute int
		steps     []step
	}{
		{"one a minute", 1, []step{{requests: 3, allowed: 1, retry: time.Minute}}},
		{"a burst of the whole budget, then one every 15s", 4, []step{{requests: 6, allowed: 4, retry: 15 * time.Second}}},
		{"one every 20s", 3, []step{{requests: 5, allowed: 3, retry: 20 * time.Second}}},
		{"a refused request costs nothing", 2, []step{
			{requests: 3, allowed: 2, retry: 30 * time.Second},
			{requests: 1, allowed: 0, retry: 30 * time.Second},
		}},
		{"the budget refills evenly, not all at once a minute later", 120, []step{
			{requests: 121, allowed: 120, retry: 500 * time.Millisecond},
			// 750ms later one and a half requests are back: one is allowed,
			// the next waits for the other half.
			{wait: 750 * time.Millisecond, requests: 2, allowed: 1, retry: 250 * time.Millisecond},
		}},
	}
	limiters := map[string]func(perMinute int, prefix string) Limiter{
		BackendLocal: func(perMinute int, _ string) Limiter { return NewLocal(perMinute) },
		BackendRedis: func(perMinute int, prefix string) Limiter { return NewRedis(rdb, perMinute, prefix) },
	}
	for backend, newLimiter := range limiters {
		for i, tt := range tests {
			t.Run(backend+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				l := newLimiter(tt.perMinute, fmt.Sprintf("test:%d:", i))
				ctx := context.Background()
				start, planned := time.Now(), time.Duration(0)
				for n, st := range tt.steps {
					time.Sleep(st.wait)
					planned += st.wait
					allowed, retry := 0, time.Duration(0)
					for range st.requests {
						ok, wait, err := l.Allow(ctx, "sub:ann")
						if err != nil {
							t.Fatal(err)
						}
						if ok {
							allowed++
						} else if retry == 0 {
							retry = wait
						}
					}
					// Time passes beyond the planned waits while the steps run
					// and sleeps overshoot: the wait named may be shorter by
					// as much.
					late := time.Since(start) - planned
					if allowed != st.allowed || !within(retry, st.retry-late, st.retry) {
						t.Fatalf("step %d: %d of %d allowed, then told to wait %s; want %d allowed, then %s (less up to %s)",
							n+1, allowed, st.requests, retry, st.allowed, st.retry, late)
					}
				}
				if ok, _, err := l.Allow(ctx, "sub:bob"); !ok || err != nil {
					t.Errorf("another key shares ann's count: allowed %v, %v", ok, err)
				}
			})
		}
	}
}

// within reports whether d lies in [low, high], give or take the float
// arithmetic both limiters do (Redis's clock counts microseconds).
func within(d, low, high time.Duration) bool {
	return d >= low-time.Microsecond && d <= high+time.Microsecond
}

// redisOptions parses a test Redis URL.
func redisOptions(t *testing.T, url string) *redis.Options {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

// TestLocalWaitsExactly follows one key through fake time: the wait a
// refused request is told is exactly when the next one is allowed, and a
// minute without requests gives the whole burst back.
func TestLocalWaitsExactly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewLocal(4)
		ctx := context.Background()
		for round := range 2 {
			for i := range 4 {
				if ok, _, _ := l.Allow(ctx, "sub:ann"); !ok {
					t.Fatalf("round %d: request %d of the burst refused", round, i+1)
				}
			}
			ok, retry, _ := l.Allow(ctx, "sub:ann")
			if ok || !within(retry, 15*time.Second, 15*time.Second) {
				t.Fatalf("round %d: past the burst, allowed %v, retry %s; want refused for exactly 15s", round, ok, retry)
			}
			time.Sleep(retry - time.Millisecond)
			if ok, retry, _ := l.Allow(ctx, "sub:ann"); ok || !within(retry, time.Millisecond, time.Millisecond) {
				t.Fatalf("round %d: 1ms early: allowed %v, retry %s", round, ok, retry)
			}
			time.Sleep(time.Millisecond)
			if ok, _, _ := l.Allow(ctx, "sub:ann"); !ok {
				t.Fatalf("round %d: refused once the wait it was told had passed", round)
			}
			time.Sleep(Window)
		}
	})
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

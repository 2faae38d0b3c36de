// Package ratelimit counts requests per key (a subject, a client address)
// per minute, in the process (github.com/go-chi/httprate) or, so that limits
// hold across replicas, in Redis (github.com/go-redis/redis_rate). It only
// counts and decides; the HTTP layer answers.
package ratelimit

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/httprate"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Window is the period every limit counts over.
const Window = time.Minute

// Limiter decides whether one more request for key is allowed.
type Limiter interface {
	// Allow records a request for key. A limited request gets the time to
	// wait. An error means the count could not be checked; callers fail
	// open.
	Allow(ctx context.Context, key string) (allowed bool, retryAfter time.Duration, err error)
}

// Local counts in this process with a sliding window.
type Local struct {
	rl *httprate.RateLimiter
}

var _ Limiter = (*Local)(nil)

// NewLocal allows perMinute requests per key per minute.
func NewLocal(perMinute int) *Local {
	// Response headers are left to the caller: the limiter only counts.
	return &Local{rl: httprate.NewRateLimiter(perMinute, Window, httprate.WithResponseHeaders(httprate.ResponseHeaders{}))}
}

// Allow implements Limiter.
func (l *Local) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	// OnLimit needs a request and a writer for its headers; none are
	// configured, so a throwaway writer is enough.
	r := (&http.Request{}).WithContext(ctx)
	if l.rl.OnLimit(discardHeaders{}, r, key) {
		return false, Window, nil
	}
	return true, 0, nil
}

// discardHeaders is a ResponseWriter that keeps nothing.
type discardHeaders struct{}

func (discardHeaders) Header() http.Header         { return http.Header{} }
func (discardHeaders) Write(b []byte) (int, error) { return len(b), nil }
func (discardHeaders) WriteHeader(int)             {}

// Redis counts in Redis (GCRA), shared by every replica using the same
// Redis.
type Redis struct {
	limiter *redis_rate.Limiter
	limit   redis_rate.Limit
	prefix  string
}

var _ Limiter = (*Redis)(nil)

// NewRedis allows perMinute requests per key per minute, counted in rdb
// under keys starting with prefix.
func NewRedis(rdb *redis.Client, perMinute int, prefix string) *Redis {
	return &Redis{limiter: redis_rate.NewLimiter(rdb), limit: redis_rate.PerMinute(perMinute), prefix: prefix}
}

// Allow implements Limiter.
func (l *Redis) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := l.limiter.Allow(ctx, l.prefix+key, l.limit)
	if err != nil {
		return true, 0, err
	}
	if res.Allowed == 0 {
		return false, max(res.RetryAfter, time.Second), nil
	}
	return true, 0, nil
}

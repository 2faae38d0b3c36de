package service

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/internal/metrics"
	"github.com/chattoken/chattoken/internal/ratelimit"
)

// newLimiters returns the per-subject and per-address limiters (nil when
// off), counted in Redis when CHATTOKEN_REDIS_URL is set so that limits hold
// across replicas, and a function releasing them. A URL Redis cannot use is
// a configuration error: counting in each process instead would quietly
// multiply the limit by the number of replicas. An outage is different:
// while Redis cannot be reached each replica counts on its own, which beats
// no limit, and m says which backend every limit counts in.
func newLimiters(cfg *config.Config, m *metrics.Metrics) (subject, address ratelimit.Limiter, closeFn func(), err error) {
	closeFn = func() {}
	var rdb *redis.Client
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			// The library's message may repeat the URL and its password.
			return nil, nil, nil, config.Errorf("REDIS_URL", "is not a valid Redis URL")
		}
		// A slow or absent Redis must not slow minting: limits then count
		// in this process, so one quick attempt is all a request waits for.
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 200*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
		opt.PoolTimeout = 200 * time.Millisecond
		opt.MaxRetries, opt.DialerRetries = -1, 1
		// Failures are logged by the HTTP layer, throttled and as JSON; the
		// library's own plain-text lines would repeat them.
		redis.SetLogger(quietRedisLog{})
		rdb = redis.NewClient(opt)
		closeFn = func() { _ = rdb.Close() }
	}
	// The HTTP layer prefixes every key with its kind (sub:, ip:).
	build := func(name string, perMinute int) ratelimit.Limiter {
		switch {
		case perMinute == 0:
			return nil
		case rdb != nil:
			m.SetRateLimitBackend(name, ratelimit.BackendRedis)
			// Asking a dead Redis again once a second finds it back soon
			// and delays at most one request a second by the dial timeout.
			return ratelimit.NewFallback(ratelimit.NewRedis(rdb, perMinute, "chattoken:rl:"), ratelimit.NewLocal(perMinute),
				time.Second, func(backend string) { m.SetRateLimitBackend(name, backend) })
		default:
			m.SetRateLimitLocal(name)
			return ratelimit.NewLocal(perMinute)
		}
	}
	return build("subject", cfg.RateLimitSubject), build("address", cfg.RateLimitIP), closeFn, nil
}

// quietRedisLog discards go-redis's own log lines.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// Package ratelimit counts requests per key (a subject, a client address)
// per minute, in the process (golang.org/x/time/rate) or, so that limits
// hold across replicas, in Redis (github.com/go-redis/redis_rate), falling
// back to the process while Redis cannot be reached. Both count the same
// way: a budget of the per-minute rate that refills evenly over the minute
// (a token bucket, which is what Redis's GCRA computes), so a limit allows
// the same bursts and names the same wait wherever it counts. It only counts
// and decides; the HTTP layer answers.
package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Window is the period every limit counts over.
const Window = time.Minute

// The backends a Fallback counts in, as it reports them.
const (
	BackendRedis = "redis"
	BackendLocal = "local"
)

// Limiter decides whether one more request for key is allowed.
type Limiter interface {
	// Allow records a request for key. A limited request gets the exact
	// time until one more would be allowed. An error reports that Redis
	// could not be asked; the decision still stands (a Fallback took it
	// from its count in this process, a bare Redis allows).
	Allow(ctx context.Context, key string) (allowed bool, retryAfter time.Duration, err error)
}

// localKeys bounds the keys a Local remembers. A key unused for a Window
// has its whole budget back and needs no memory, so only a flood of more
// keys than this within a minute makes a Local forget a key in use, which
// gives that key a fresh budget. Each key takes about 250 bytes, so a full
// Local holds some 25 MB.
const localKeys = 100_000

// Local counts in this process: a token bucket per key, holding perMinute
// requests and refilling one every Window/perMinute, as redis_rate's GCRA
// does with the same limit.
type Local struct {
	perSecond rate.Limit
	burst     int
	keys      *lru.Cache[string, *rate.Limiter]
}

var _ Limiter = (*Local)(nil)

// NewLocal allows perMinute requests per key per minute.
func NewLocal(perMinute int) *Local {
	keys, _ := lru.New[string, *rate.Limiter](localKeys) // fails only for a size below 1
	return &Local{perSecond: rate.Limit(float64(perMinute) / Window.Seconds()), burst: perMinute, keys: keys}
}

// Allow implements Limiter.
func (l *Local) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	lim, ok := l.keys.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.perSecond, l.burst)
		// Two first requests of a key may race here: both count in the
		// one limiter that was added first.
		if first, found, _ := l.keys.PeekOrAdd(key, lim); found {
			lim = first
		}
	}
	now := time.Now()
	if lim.AllowN(now, 1) {
		return true, 0, nil
	}
	// The wait until the bucket holds one whole request again.
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.perSecond) * float64(time.Second)), nil
}

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
		return false, res.RetryAfter, nil
	}
	return true, 0, nil
}

// Fallback counts in Redis and, while Redis cannot be reached, in this
// process, so that an outage loosens a limit to one budget per replica
// instead of switching it off. While Redis is down it is asked again at most
// once per retry interval, so a dead Redis delays one request per interval,
// not every request; the first answer puts it back in use.
type Fallback struct {
	redis      Limiter
	local      *Local
	retryEvery time.Duration
	onSwitch   func(backend string)
	mu         sync.Mutex
	// failedAt is when Redis was last asked and failed (Unix nanoseconds),
	// zero while it answers. It is written under mu, except that askRedis
	// moves it forward to claim a retry.
	failedAt atomic.Int64
}

var _ Limiter = (*Fallback)(nil)

// NewFallback counts with redis, and with local while redis fails, asking
// redis again every retryEvery. onSwitch is told the backend whenever the
// count moves to local (BackendLocal) or back to redis (BackendRedis).
func NewFallback(redis Limiter, local *Local, retryEvery time.Duration, onSwitch func(backend string)) *Fallback {
	return &Fallback{redis: redis, local: local, retryEvery: retryEvery, onSwitch: onSwitch}
}

// Allow implements Limiter. It returns Redis's error along with the local
// decision when Redis was asked and failed.
func (f *Fallback) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if !f.askRedis() {
		return f.local.Allow(ctx, key)
	}
	allowed, retryAfter, err := f.redis.Allow(ctx, key)
	if err != nil && ctx.Err() != nil {
		// The client left while Redis was asked: that says nothing about
		// Redis, and must not let a client switch the count to local.
		return f.local.Allow(ctx, key)
	}
	f.record(err != nil)
	if err == nil {
		return allowed, retryAfter, nil
	}
	allowed, retryAfter, _ = f.local.Allow(ctx, key)
	return allowed, retryAfter, err
}

// record notes whether Redis failed and tells onSwitch when that moves the
// count. The lock keeps the calls to onSwitch in the order of the moves, so
// the last one told is where the count is.
func (f *Fallback) record(failed bool) {
	if !failed && f.failedAt.Load() == 0 {
		// Redis answers, as before: the common case takes no lock.
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	wasLocal := f.failedAt.Load() != 0
	if failed {
		f.failedAt.Store(time.Now().UnixNano())
	} else {
		f.failedAt.Store(0)
	}
	switch {
	case failed && !wasLocal:
		f.onSwitch(BackendLocal)
	case !failed && wasLocal:
		f.onSwitch(BackendRedis)
	}
}

// askRedis reports whether this request goes to Redis: always while it
// answers; while it is down, only the one request that claims the retry
// once the interval has passed.
func (f *Fallback) askRedis() bool {
	failed := f.failedAt.Load()
	if failed == 0 {
		return true
	}
	now := time.Now().UnixNano()
	return now-failed >= int64(f.retryEvery) && f.failedAt.CompareAndSwap(failed, now)
}

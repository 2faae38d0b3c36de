// Package cache is a bounded least-recently-used cache whose entries expire.
// Memory stays proportional to the bound whatever the request rate: expiry
// is checked on read and stored in the entry, so nothing is kept per time
// window (unlike golang-lru's expirable cache, whose per-window buckets grow
// with the insert rate). Where entries differ in size, a cache can also be
// bounded in bytes: the caller estimates each entry's weight, and the least
// recently used entries go until the weights fit the budget.
package cache

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// TTL holds at most size entries, each until its own expiry, and, when it
// has a budget, entries whose weights add up to at most that budget. It is
// safe for concurrent use.
type TTL[K comparable, V any] struct {
	// mu guards the list and weight together: golang-lru's locked cache
	// cannot keep a running total right, because replacing a key's value
	// does not go through its eviction callback.
	mu     sync.Mutex
	lru    *simplelru.LRU[K, entry[V]]
	weigh  func(K, V) int64
	budget int64
	weight int64
	now    func() time.Time
}

type entry[V any] struct {
	value   V
	expires time.Time
	weight  int64
}

// New returns a cache of at most size entries (at least one).
func New[K comparable, V any](size int) *TTL[K, V] {
	return NewWeighted[K, V](size, 0, nil)
}

// NewWeighted returns a cache of at most size entries (at least one) whose
// weights, as estimated by weigh, add up to at most budget. A budget of 0
// (or a nil weigh) bounds the number of entries only.
func NewWeighted[K comparable, V any](size int, budget int64, weigh func(K, V) int64) *TTL[K, V] {
	c := &TTL[K, V]{weigh: weigh, budget: budget, now: time.Now}
	if weigh == nil {
		c.budget = 0
	}
	// Every removal (eviction, expiry, replacement, Purge) passes here, so
	// the total is always the sum of the entries held.
	lru, err := simplelru.NewLRU(max(size, 1), func(_ K, e entry[V]) { c.weight -= e.weight })
	if err != nil {
		// NewLRU fails only for a size below one, excluded above.
		panic(err)
	}
	c.lru = lru
	return c
}

// Get returns the value for k if it has not expired.
func (c *TTL[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(k)
	if !ok {
		var zero V
		return zero, false
	}
	if !c.now().Before(e.expires) {
		c.lru.Remove(k)
		var zero V
		return zero, false
	}
	return e.value, true
}

// Add stores v for k for ttl, evicting the least recently used entries
// while the cache holds too many or, with a budget, weighs too much. An
// entry heavier than the whole budget is not stored: it would only empty the
// cache.
func (c *TTL[K, V]) Add(k K, v V, ttl time.Duration) {
	var w int64
	if c.budget > 0 {
		w = c.weigh(k, v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The old value goes first, so that its weight is taken off.
	c.lru.Remove(k)
	if w > c.budget && c.budget > 0 {
		return
	}
	c.lru.Add(k, entry[V]{value: v, expires: c.now().Add(ttl), weight: w})
	c.weight += w
	for c.budget > 0 && c.weight > c.budget {
		c.lru.RemoveOldest()
	}
}

// Purge removes every entry.
func (c *TTL[K, V]) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Purge()
}

// Len is the number of entries held, expired ones included until read.
func (c *TTL[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Weight is the sum of the weights of the entries held (0 without a
// budget).
func (c *TTL[K, V]) Weight() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.weight
}

// Keys lists the keys held, oldest first.
func (c *TTL[K, V]) Keys() []K {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Keys()
}

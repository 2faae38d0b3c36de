// Package cache is a bounded least-recently-used cache whose entries expire.
// Memory stays proportional to the bound whatever the request rate: expiry
// is checked on read and stored in the entry, so nothing is kept per time
// window (unlike golang-lru's expirable cache, whose per-window buckets grow
// with the insert rate).
package cache

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// TTL holds at most size entries, each until its own expiry. It is safe
// for concurrent use.
type TTL[K comparable, V any] struct {
	lru *lru.Cache[K, entry[V]]
	now func() time.Time
}

type entry[V any] struct {
	value   V
	expires time.Time
}

// New returns a cache of at most size entries (at least one).
func New[K comparable, V any](size int) *TTL[K, V] {
	c, err := lru.New[K, entry[V]](max(size, 1))
	if err != nil {
		// lru.New fails only for a size below one, excluded above.
		panic(err)
	}
	return &TTL[K, V]{lru: c, now: time.Now}
}

// Get returns the value for k if it has not expired.
func (c *TTL[K, V]) Get(k K) (V, bool) {
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

// Add stores v for k for ttl, evicting the least recently used entry when
// full.
func (c *TTL[K, V]) Add(k K, v V, ttl time.Duration) {
	c.lru.Add(k, entry[V]{value: v, expires: c.now().Add(ttl)})
}

// Purge removes every entry.
func (c *TTL[K, V]) Purge() { c.lru.Purge() }

// Len is the number of entries held, expired ones included until read.
func (c *TTL[K, V]) Len() int { return c.lru.Len() }

// Keys lists the keys held, oldest first.
func (c *TTL[K, V]) Keys() []K { return c.lru.Keys() }

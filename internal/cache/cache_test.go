package cache

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestTTL(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	c := New[string, int](2)
	c.now = func() time.Time { return now }
	c.Add("a", 1, time.Second)
	c.Add("b", 2, 3*time.Second)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %v, %v", v, ok)
	}
	c.Add("c", 3, time.Second) // evicts b, the least recently used
	if _, ok := c.Get("b"); ok {
		t.Error("b survived past the bound")
	}
	now = now.Add(time.Second)
	if _, ok := c.Get("a"); ok {
		t.Error("a is served at its expiry")
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d after a's removal", c.Len())
	}
	c.Purge()
	if _, ok := c.Get("c"); ok || c.Len() != 0 {
		t.Error("Purge left entries")
	}
}

// TestMemoryFollowsTheBound inserts far more distinct keys than the bound
// and checks the heap stays near what the bound alone needs.
func TestMemoryFollowsTheBound(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred thousand entries")
	}
	c := New[string, [256]byte](1000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 300_000 {
		c.Add(strconv.Itoa(i), [256]byte{}, time.Minute)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("the heap grew %d MiB for a bound of 1000 entries of 256 bytes", grew>>20)
	}
	if c.Len() != 1000 {
		t.Errorf("Len = %d, want the bound", c.Len())
	}
}

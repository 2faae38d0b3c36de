package cache

import (
	"runtime"
	"strconv"
	"strings"
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

func TestWeightBudget(t *testing.T) {
	t.Parallel()
	c := NewWeighted[string, string](10, 100, func(_ string, v string) int64 { return int64(len(v)) })
	forty := strings.Repeat("x", 40)
	c.Add("a", forty, time.Minute)
	c.Add("b", forty, time.Minute)
	if _, ok := c.Get("a"); !ok { // a is now more recently used than b
		t.Fatal("a is missing while the budget holds it")
	}
	c.Add("c", forty, time.Minute) // 120 > 100: b, the least recently used, goes
	if _, ok := c.Get("b"); ok {
		t.Error("b survived past the budget")
	}
	if c.Len() != 2 || c.Weight() != 80 {
		t.Errorf("Len %d Weight %d, want 2 entries of 80", c.Len(), c.Weight())
	}

	// Replacing a value counts its new weight only.
	c.Add("a", "xx", time.Minute)
	if c.Weight() != 42 {
		t.Errorf("Weight = %d after replacing a 40 with a 2, want 42", c.Weight())
	}
	// An entry heavier than the whole budget is not kept, and does not
	// empty the cache on its way.
	c.Add("huge", strings.Repeat("x", 101), time.Minute)
	if _, ok := c.Get("huge"); ok || c.Len() != 2 || c.Weight() != 42 {
		t.Errorf("an entry over the budget: held %v, Len %d, Weight %d", ok, c.Len(), c.Weight())
	}
	// Expiry and Purge give the weight back.
	now := time.Now().Add(time.Hour)
	c.now = func() time.Time { return now }
	if _, ok := c.Get("c"); ok || c.Weight() != 2 {
		t.Errorf("an expired entry: served %v, Weight %d, want 2", ok, c.Weight())
	}
	c.Purge()
	if c.Len() != 0 || c.Weight() != 0 {
		t.Errorf("after Purge: Len %d Weight %d", c.Len(), c.Weight())
	}
}

// TestMemoryFollowsTheBudget fills a cache bounded in bytes with values much
// larger than the budget allows in total, and checks the heap stays near it.
func TestMemoryFollowsTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred MiB in total")
	}
	const budget = 4 << 20
	c := NewWeighted[int, []byte](100_000, budget, func(_ int, v []byte) int64 { return int64(len(v)) })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 500 {
		c.Add(i, make([]byte, 256<<10), time.Minute)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 2*budget {
		t.Errorf("the heap grew %d MiB for a budget of %d MiB", grew>>20, budget>>20)
	}
	if c.Weight() > budget || c.Len() != budget/(256<<10) {
		t.Errorf("Weight %d, Len %d; want at most %d bytes in %d entries", c.Weight(), c.Len(), budget, budget/(256<<10))
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

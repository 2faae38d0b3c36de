package httpapi

import (
	"testing"
	"time"
)

// TestRetryAfterSeconds: Retry-After is the limiter's wait rounded up to a
// whole second, so a client that waits as told is never back too early.
func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	for wait, want := range map[time.Duration]int{
		0:                                     1,
		300 * time.Millisecond:                1,
		14*time.Second + 400*time.Millisecond: 15,
		15 * time.Second:                      15,
		// The limiters compute in floating point.
		15*time.Second + 3:                    15,
		15*time.Second - 3:                    15,
		15*time.Second + 200*time.Millisecond: 16,
		time.Minute:                           60,
	} {
		if got := retryAfterSeconds(wait); got != want {
			t.Errorf("retryAfterSeconds(%s) = %d, want %d", wait, got, want)
		}
	}
}

package edge

import (
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens a second, up to burst. It has no
// goroutine and takes the time as an argument. A zero rate means unlimited.
type bucket struct {
	rate, burst float64

	// mu guards tokens and last.
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take takes one token at now and returns how long the caller must wait
// before the token is its (0: at once). The token is taken either way, so
// callers that wait keep their place.
func (b *bucket) take(now time.Time) time.Duration {
	if b == nil || b.rate <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// allow takes a token if one is there now; it never goes into debt.
func (b *bucket) allow(now time.Time) bool {
	if b == nil || b.rate <= 0 {
		return true
	}
	if b.take(now) == 0 {
		return true
	}
	b.mu.Lock()
	b.tokens++ // give it back: a refused caller does not wait
	b.mu.Unlock()
	return false
}

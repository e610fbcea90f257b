package edge

import (
	"time"

	"golang.org/x/time/rate"
)

// bucket is a token bucket (golang.org/x/time/rate): rate tokens a second,
// up to burst. It takes the time as an argument. A zero rate, or a nil
// bucket, means unlimited.
type bucket struct {
	l *rate.Limiter // nil: unlimited
}

func newBucket(r float64, burst int) *bucket {
	if r <= 0 {
		return &bucket{}
	}
	return &bucket{l: rate.NewLimiter(rate.Limit(r), burst)}
}

// take takes one token at now and returns how long the caller must wait
// before the token is its (0: at once). The token is taken either way, so
// callers that wait keep their place.
func (b *bucket) take(now time.Time) time.Duration {
	if b == nil || b.l == nil {
		return 0
	}
	return b.l.ReserveN(now, 1).DelayFrom(now)
}

// allow takes a token if one is there now; it never goes into debt.
func (b *bucket) allow(now time.Time) bool {
	return b == nil || b.l == nil || b.l.AllowN(now, 1)
}

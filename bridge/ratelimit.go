package bridge

import "time"

// rateLimit is a token bucket in bytes. rate 0 disables it. A send larger
// than the bucket goes into debt and waits it off, so no message is ever
// starved and the long-run rate stays at most rate.
type rateLimit struct {
	rate   float64 // bytes per second; 0 = unlimited
	burst  float64 // bucket size in bytes
	tokens float64
	last   time.Time
}

func newRateLimit(bytesPerSec, burst int64, now time.Time) *rateLimit {
	if burst < bytesPerSec/10 {
		burst = bytesPerSec / 10
	}
	return &rateLimit{rate: float64(bytesPerSec), burst: float64(burst), tokens: float64(burst), last: now}
}

// take spends n bytes at now and returns how long the caller must wait
// before sending them (0 when allowed now).
func (r *rateLimit) take(now time.Time, n int) time.Duration {
	if r == nil || r.rate <= 0 {
		return 0
	}
	if el := now.Sub(r.last); el > 0 {
		r.tokens = min(r.burst, r.tokens+el.Seconds()*r.rate)
		r.last = now
	}
	r.tokens -= float64(n)
	if r.tokens >= 0 {
		return 0
	}
	return time.Duration(-r.tokens / r.rate * float64(time.Second))
}

package fleet

import (
	"math"
	"time"
)

// Backoff paces reconnect attempts: the ceiling grows from Min by Multiplier
// up to Max, and each delay is randomised by Jitter. Pure: the caller passes
// the random number, so tests step it deterministically.
type Backoff struct {
	opts    BackoffOptions
	attempt int
}

// NewBackoff returns a backoff at its first attempt.
func NewBackoff(o BackoffOptions) *Backoff { return &Backoff{opts: o} }

// Next returns the delay before the next attempt, given r uniform in [0,1),
// and advances the attempt count. The delay lies in
// [ceiling*(1-Jitter), ceiling].
func (b *Backoff) Next(r float64) time.Duration {
	ceil := float64(b.opts.Min) * math.Pow(b.opts.Multiplier, float64(b.attempt))
	if ceil > float64(b.opts.Max) || math.IsInf(ceil, 0) {
		ceil = float64(b.opts.Max)
	} else {
		b.attempt++
	}
	return time.Duration(ceil * (1 - b.opts.Jitter*r))
}

// Reset starts over after a successful connection.
func (b *Backoff) Reset() { b.attempt = 0 }

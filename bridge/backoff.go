package bridge

import "time"

// backoffDelay is the wait before retry number attempt (0 for the first
// retry): min doubled per attempt, capped at max, with "equal jitter": a
// uniform draw in [d/2, d) where rnd in [0, 1) is supplied by the caller, so
// reconnecting gateways do not synchronise.
func backoffDelay(attempt int, min, max time.Duration, rnd float64) time.Duration {
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	if rnd < 0 || rnd >= 1 {
		rnd = 0
	}
	return d/2 + time.Duration(rnd*float64(d/2))
}

package bridge

import "time"

// stallWatch decides when a connected sink has made no acknowledged progress
// for too long. Progress is any acknowledgement; idle (nothing in flight) is
// never a stall.
type stallWatch struct {
	timeout  time.Duration
	progress time.Time // last ack, or when records went in flight after idle
	busy     bool      // records were in flight at the last observation
}

// observe records the state at now: acked says an ack arrived since the last
// call, inflight how many records await an ack. It reports whether the
// sink is stalled.
func (s *stallWatch) observe(now time.Time, acked bool, inflight int) bool {
	if inflight == 0 {
		s.busy = false
		return false
	}
	if acked || !s.busy {
		s.progress = now
		s.busy = true
		return false
	}
	return s.timeout > 0 && now.Sub(s.progress) >= s.timeout
}

package load

import (
	"slices"
	"time"
)

// Result is one run's outcome; the JSON names are what scripts/bench.sh parses.
type Result struct {
	Published    uint64  `json:"published"`
	Received     uint64  `json:"received"`
	Expected     uint64  `json:"expected"`
	PubErrors    uint64  `json:"pub_errors"`
	Unacked      uint64  `json:"unacked"`
	PubRate      float64 `json:"pub_rate"`
	RecvRate     float64 `json:"recv_rate"`
	DeliveredPct float64 `json:"delivered_pct"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	Maxms        float64 `json:"max_ms"`
	DurationS    float64 `json:"duration_s"`
	CPUUserS     float64 `json:"cpu_user_s"`
	CPUSysS      float64 `json:"cpu_sys_s"`
}

// percentiles fills P50/P99/Max from latency samples in nanoseconds; it sorts s.
func (r *Result) percentiles(s []int64) {
	if len(s) == 0 {
		return
	}
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q * float64(len(s)-1))
		return float64(s[i]) / float64(time.Millisecond)
	}
	r.P50ms, r.P99ms, r.Maxms = at(0.50), at(0.99), at(1)
}

// rates fills the derived figures.
func (r *Result) rates(pubDur, recvDur, total time.Duration) {
	if pubDur > 0 {
		r.PubRate = float64(r.Published) / pubDur.Seconds()
	}
	if recvDur > 0 {
		r.RecvRate = float64(r.Received) / recvDur.Seconds()
	}
	if r.Expected > 0 {
		r.DeliveredPct = 100 * float64(r.Received) / float64(r.Expected)
	}
	r.DurationS = total.Seconds()
}

package rollup

import "math"

// sample is one observed value and its time (Unix ns).
type sample struct {
	t int64
	v float64
}

// countWindow is one series' last-N window: a ring of the last N samples in
// arrival order, with a running sum and M2 (Welford, with removal) and a
// running min/max that is recomputed lazily once an evicted sample was the
// min or the max. Every N evictions everything is recomputed from the ring,
// so rounding drift stays bounded.
type countWindow struct {
	ring     []sample // grows to N, then wraps
	next     int      // when full: the slot of the oldest sample
	sum, m2  float64
	min, max float64
	stale    bool // min/max need recomputing
	evicted  int  // evictions since the last recompute
}

// add appends a sample, evicting the oldest when the window holds n.
func (w *countWindow) add(n int, s sample) {
	if len(w.ring) < n {
		w.push(len(w.ring), s.v)
		w.ring = append(w.ring, s)
		return
	}
	old := w.ring[w.next]
	w.ring[w.next] = s
	w.next = (w.next + 1) % n
	if w.evicted++; w.evicted >= n {
		w.recompute()
		return
	}
	w.pop(n, old.v)
	w.push(n-1, s.v)
}

// push adds v to the running statistics of k samples.
func (w *countWindow) push(count int, v float64) {
	k := float64(count)
	if k == 0 {
		w.sum, w.m2, w.min, w.max, w.stale = v, 0, v, v, false
		return
	}
	mOld := w.sum / k
	w.sum += v
	w.m2 += (v - mOld) * (v - w.sum/(k+1))
	if !w.stale {
		w.min, w.max = math.Min(w.min, v), math.Max(w.max, v)
	}
}

// pop removes v from the running statistics of k samples.
func (w *countWindow) pop(count int, v float64) {
	k := float64(count)
	if k <= 1 {
		w.sum, w.m2 = 0, 0
		w.stale = true
		return
	}
	mOld := w.sum / k
	w.sum -= v
	w.m2 = math.Max(0, w.m2-(v-mOld)*(v-w.sum/(k-1)))
	if v == w.min || v == w.max {
		w.stale = true
	}
}

// recompute sets sum, M2, min and max exactly from the ring.
func (w *countWindow) recompute() {
	w.evicted = 0
	var sum float64
	for _, s := range w.ring {
		sum += s.v
	}
	mean := sum / float64(len(w.ring))
	w.sum, w.m2 = sum, 0
	for _, s := range w.ring {
		w.m2 += (s.v - mean) * (s.v - mean)
	}
	w.refreshMinMax()
}

func (w *countWindow) refreshMinMax() {
	w.min, w.max = math.Inf(1), math.Inf(-1)
	for _, s := range w.ring {
		w.min, w.max = math.Min(w.min, s.v), math.Max(w.max, s.v)
	}
	w.stale = false
}

// first and last return the oldest and newest sample (arrival order).
func (w *countWindow) first() sample { return w.ring[w.next] }

func (w *countWindow) last() sample {
	i := w.next - 1
	if i < 0 {
		i = len(w.ring) - 1
	}
	return w.ring[i]
}

// eval returns the window's statistics; first is the oldest sample.
func (w *countWindow) eval() acc {
	if len(w.ring) == 0 {
		return acc{}
	}
	if w.stale {
		w.refreshMinMax()
	}
	f := w.first()
	return acc{n: uint64(len(w.ring)), sum: w.sum, m2: w.m2, min: w.min, max: w.max, t0: f.t, v0: f.v}
}

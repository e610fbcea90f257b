package rollup

import (
	"math"
	"sort"
	"testing"
)

// refSample is a sample the brute-force reference keeps, with its arrival.
type refSample struct {
	t   int64
	v   float64
	seq int
}

// refTime is the brute-force model of a bucketed sliding time window: it
// keeps every accepted sample and recomputes from scratch.
type refTime struct {
	width, n int64
	head     int64
	all      []refSample
}

func (r *refTime) add(s refSample) bool {
	b := floorDiv(s.t, r.width)
	if len(r.all) > 0 && b <= r.head-r.n {
		return false
	}
	if len(r.all) == 0 || b > r.head {
		r.head = b
	}
	r.all = append(r.all, s)
	return true
}

func (r *refTime) window(now int64) []refSample {
	if len(r.all) == 0 {
		return nil
	}
	end := max(floorDiv(now, r.width), r.head)
	var in []refSample
	for _, s := range r.all {
		if b := floorDiv(s.t, r.width); b > end-r.n && b <= end {
			in = append(in, s)
		}
	}
	return in
}

// refCount is the brute-force model of a count window.
type refCount struct {
	n   int
	all []refSample
}

func (r *refCount) add(s refSample) { r.all = append(r.all, s) }

func (r *refCount) window() []refSample {
	return r.all[max(0, len(r.all)-r.n):]
}

// refValues computes every function over samples; byArrival picks first and
// last by arrival (count windows) instead of by time (ties: earlier arrival
// is first, later arrival is last).
func refValues(in []refSample, byArrival bool) (map[string]float64, int64, int64) {
	if len(in) == 0 {
		return nil, 0, 0
	}
	s := append([]refSample(nil), in...)
	if !byArrival {
		sort.SliceStable(s, func(i, j int) bool { return s[i].t < s[j].t })
	}
	first, last := s[0], s[len(s)-1]
	var sum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range s {
		sum += x.v
		lo, hi = math.Min(lo, x.v), math.Max(hi, x.v)
	}
	mean := sum / float64(len(s))
	var m2 float64
	for _, x := range s {
		m2 += (x.v - mean) * (x.v - mean)
	}
	vals := map[string]float64{
		"avg": mean, "min": lo, "max": hi, "sum": sum, "count": float64(len(s)),
		"stddev": math.Sqrt(m2 / float64(len(s))), "last": last.v,
	}
	if dt := last.t - first.t; len(s) > 1 && dt > 0 {
		vals["rate"] = (last.v - first.v) / (float64(dt) / 1e9)
	}
	return vals, first.t, last.t
}

// close reports whether got is want up to rounding relative to scale.
func near(got, want, scale float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, scale)
}

// checkWindow compares a window with the reference samples; fns are the
// rule's functions, unit and width the first time's resolution (0: exact).
func checkWindow(t *testing.T, ctx string, got WindowView, want []refSample, byArrival bool, scale float64, fns []string, unit, width int64) {
	t.Helper()
	all, first, last := refValues(want, byArrival)
	vals := map[string]float64{}
	for _, f := range fns {
		if v, ok := all[f]; ok {
			vals[f] = v
		}
	}
	if unit > 1 {
		start := floorDiv(first, width) * width
		first = start + (first-start)/unit*unit
	}
	if got.Count != len(want) {
		t.Fatalf("%s: count %d, want %d", ctx, got.Count, len(want))
	}
	if len(want) == 0 {
		return
	}
	if got.First.UnixNano() != first || got.Last.UnixNano() != last {
		t.Fatalf("%s: first/last %v/%v, want %v/%v", ctx, got.First.UnixNano(), got.Last.UnixNano(), first, last)
	}
	if len(got.Values) != len(vals) {
		t.Fatalf("%s: values %v, want %v", ctx, got.Values, vals)
	}
	for k, w := range vals {
		sc := scale
		if k == "sum" || k == "rate" {
			sc = scale * float64(len(want)) * 1e3
		}
		if g := got.Values[k]; !near(g, w, sc) {
			t.Fatalf("%s: %s = %v, want %v (values %v)", ctx, k, g, w, got.Values)
		}
	}
}

package rollup

import (
	"math"
	"time"
)

// acc is the merged state of a window at one moment: the count, sum and
// sum of squared deviations (M2) of its samples, min and max, and its
// first sample (earliest time).
type acc struct {
	n        uint64
	sum, m2  float64
	min, max float64
	t0       int64
	v0       float64
}

// merge adds a group of n samples (their sum, M2, min, max and first
// sample) with Chan's parallel formula for M2.
func (a *acc) merge(n uint64, sum, m2, lo, hi float64, t0 int64, v0 float64) {
	if a.n == 0 {
		*a = acc{n: n, sum: sum, m2: m2, min: lo, max: hi, t0: t0, v0: v0}
		return
	}
	na, nb := float64(a.n), float64(n)
	d := sum/nb - a.sum/na
	a.m2 += m2 + d*d*na*nb/(na+nb)
	a.sum += sum
	a.n += n
	a.min = math.Min(a.min, lo)
	a.max = math.Max(a.max, hi)
	if t0 < a.t0 {
		a.t0, a.v0 = t0, v0
	}
}

// layout says where a bucket keeps each field, as word offsets in the
// bucket; 0 means the rule's functions do not need the field. Word 0 is the
// header (count << 32 | first-sample offset) and word 1 the sum.
type layout struct {
	stride, m2, min, v0 int // max lives at min+1
}

func newLayout(fns []fn) layout {
	l := layout{stride: 2}
	for _, f := range fns {
		switch {
		case f == fnStddev && l.m2 == 0:
			l.m2 = l.stride
			l.stride++
		case (f == fnMin || f == fnMax) && l.min == 0:
			l.min = l.stride
			l.stride += 2
		case f == fnRate && l.v0 == 0:
			l.v0 = l.stride
			l.stride++
		}
	}
	return l
}

// timeSpec is one time window of a rule, shared by all its series.
type timeSpec struct {
	span   time.Duration
	width  int64 // bucket width, ns
	n      int64 // buckets
	unit   int64 // resolution of a bucket's first-sample time: a power of 10 ns
	l      layout
	off    int // where the window's ring starts in a series' slab
	headAt int // where its head is in a series' slab
}

func newTimeSpec(span time.Duration, buckets int, l layout) timeSpec {
	w := int64(span) / int64(buckets)
	unit := int64(1)
	for w/unit > math.MaxUint32 {
		unit *= 10
	}
	return timeSpec{span: span, width: w, n: int64(buckets), unit: unit, l: l}
}

// emptyHead is the head of a window that has seen no sample.
const emptyHead = math.MinInt64 / 4

// emptyHeadWord is emptyHead as a slab word.
var emptyHeadWord = func() uint64 { h := int64(emptyHead); return uint64(h) }()

// timeWindow is one series' ring of buckets for one time window, a view of
// the series' slab (the heads of all its time windows first, in one cache
// line, then the rings). head is the newest bucket index the window has
// seen; bucket index b (time / width) lives in ring slot b mod n, at word
// slot*stride, while head-n < b <= head. A bucket is cleared by zeroing its
// header; the other words are written by its first sample.
type timeWindow struct {
	headp *uint64
	ring  []uint64
}

func (w timeWindow) head() int64 { return int64(*w.headp) }

// ringSize is the number of words of the window's ring.
func (sp *timeSpec) ringSize() int { return int(sp.n) * sp.l.stride }

// window returns the view of the window in a series' slab.
func (sp *timeSpec) window(slab []uint64) timeWindow {
	return timeWindow{headp: &slab[sp.headAt], ring: slab[sp.off : sp.off+sp.ringSize()]}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// slot returns the ring slot of bucket b.
func (sp *timeSpec) slot(b int64) int {
	i := b % sp.n
	if i < 0 {
		i += sp.n
	}
	return int(i)
}

func (w timeWindow) bucket(sp *timeSpec, b int64) []uint64 {
	i := sp.slot(b) * sp.l.stride
	return w.ring[i : i+sp.l.stride : i+sp.l.stride]
}

// advance moves head forward to b, clearing the buckets it passes.
func (w timeWindow) advance(sp *timeSpec, b int64) {
	from := w.head() + 1
	if b-w.head() >= sp.n {
		from = b - sp.n + 1
	}
	n, stride := int(sp.n), sp.l.stride
	slot := sp.slot(from)
	for range b - from + 1 {
		w.ring[slot*stride] = 0
		if slot++; slot == n {
			slot = 0
		}
	}
	*w.headp = uint64(b)
}

// add puts sample (ns, v) in its bucket. It returns false, changing
// nothing, for a sample older than the window's oldest bucket.
func (w timeWindow) add(sp *timeSpec, ns int64, v float64) bool {
	b := ns / sp.width
	if ns < 0 && b*sp.width != ns {
		b--
	}
	switch {
	case b > w.head():
		w.advance(sp, b)
	case b <= w.head()-sp.n:
		return false
	}
	c := w.bucket(sp, b)
	off := uint64(ns - b*sp.width)
	if sp.unit != 1 {
		off /= uint64(sp.unit)
	}
	l := sp.l
	cnt := c[0] >> 32
	if cnt == 0 {
		c[0] = 1<<32 | off
		c[1] = math.Float64bits(v)
		if l.m2 != 0 {
			c[l.m2] = 0
		}
		if l.min != 0 {
			c[l.min], c[l.min+1] = math.Float64bits(v), math.Float64bits(v)
		}
		if l.v0 != 0 {
			c[l.v0] = math.Float64bits(v)
		}
		return true
	}
	if cnt == math.MaxUint32 {
		return false
	}
	sum := math.Float64frombits(c[1])
	if l.m2 != 0 {
		mOld := sum / float64(cnt)
		mNew := (sum + v) / float64(cnt+1)
		c[l.m2] = math.Float64bits(math.Float64frombits(c[l.m2]) + (v-mOld)*(v-mNew))
	}
	c[1] = math.Float64bits(sum + v)
	if l.min != 0 { // plain compares: values are finite
		if v < math.Float64frombits(c[l.min]) {
			c[l.min] = math.Float64bits(v)
		}
		if v > math.Float64frombits(c[l.min+1]) {
			c[l.min+1] = math.Float64bits(v)
		}
	}
	first := c[0] & math.MaxUint32
	if off < first {
		first = off
		if l.v0 != 0 {
			c[l.v0] = math.Float64bits(v)
		}
	}
	c[0] = (cnt+1)<<32 | first
	return true
}

// eval merges the buckets of the window that ends with bucket end (or with
// head, if newer): buckets end-n+1 .. end.
func (w timeWindow) eval(sp *timeSpec, end int64) acc {
	var a acc
	head := w.head()
	l := sp.l
	for b := max(end, head) - sp.n + 1; b <= head; b++ {
		c := w.bucket(sp, b)
		cnt := c[0] >> 32
		if cnt == 0 {
			continue
		}
		var m2, lo, hi, v0 float64
		if l.m2 != 0 {
			m2 = math.Float64frombits(c[l.m2])
		}
		if l.min != 0 {
			lo, hi = math.Float64frombits(c[l.min]), math.Float64frombits(c[l.min+1])
		}
		if l.v0 != 0 {
			v0 = math.Float64frombits(c[l.v0])
		}
		t0 := b*sp.width + int64(c[0]&math.MaxUint32)*sp.unit
		a.merge(cnt, math.Float64frombits(c[1]), m2, lo, hi, t0, v0)
	}
	return a
}

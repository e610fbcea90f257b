package rollup

import "time"

// rule is a compiled Rule and the series it keeps.
type rule struct {
	cfg       Rule
	filter    filter
	prefix    string   // literal start of the filter, up to its first wildcard
	path      []string // JSON path of the value; nil: whole payload
	series    template
	byTopic   bool // series is "{topic}"
	output    template
	fns       []fn
	layout    layout
	windows   []winRef
	tspecs    []timeSpec
	slabSize  int // words of a series' time windows
	counts    []int
	longest   time.Duration // longest time window
	emitEvery int64         // ns; 0: on_update
	idle      int64         // ns
	maxSeries int

	m         map[string]*series
	list      []*series // in creation order (expiry swaps); Tick's order
	nextEmit  int64
	nextSweep int64
	stats     Counters
	keyBuf    []byte
}

// series is the state of one series: its windows and newest sample.
type series struct {
	key   string
	topic string   // topic of the newest sample
	last  sample   // newest sample by time (later arrival wins a tie)
	dirty bool     // count windows changed since the last emit
	slab  []uint64 // the time windows: heads, then rings (see timeWindow)
	cw    []countWindow
}

// key returns the series key of topic; it may alias r.keyBuf.
func (r *rule) key(topic string) (string, []byte) {
	if r.byTopic {
		return topic, nil
	}
	r.keyBuf = r.series.expand(r.keyBuf[:0], &tplVars{name: r.cfg.Name, topic: topic})
	return "", r.keyBuf
}

// lookup returns the series of topic, creating it if the cap allows.
func (r *rule) lookup(topic string) *series {
	k, kb := r.key(topic)
	var s *series
	if kb != nil {
		s = r.m[string(kb)]
	} else {
		s = r.m[k]
	}
	if s != nil {
		return s
	}
	if len(r.list) >= r.maxSeries {
		r.stats.Overflow++
		return nil
	}
	if kb != nil {
		k = string(kb)
	}
	s = r.newSeries(k)
	r.m[k] = s
	return s
}

func (r *rule) newSeries(key string) *series {
	s := &series{key: key, last: sample{t: emptyTime}}
	s.slab = make([]uint64, r.slabSize)
	for i := range r.tspecs {
		s.slab[r.tspecs[i].headAt] = emptyHeadWord
	}
	if len(r.counts) > 0 {
		s.cw = make([]countWindow, len(r.counts))
	}
	r.list = append(r.list, s)
	return s
}

// emptyTime is the newest-sample time of a series without samples.
const emptyTime = -1 << 63

// known returns the series keyed by topic itself, if the rule keys series
// by topic and has one for it; else nil.
func (r *rule) known(topic string) *series {
	if !r.byTopic {
		return nil
	}
	return r.m[topic]
}

// observe adds a message to series s (nil: look it up or create it) and,
// if emit is set and the rule emits on update, appends its outputs.
func (r *rule) observe(s *series, topic string, payload []byte, ns int64, emit bool, out []Output) []Output {
	v, ok := extract(payload, r.path)
	if !ok {
		r.stats.Skipped++
		return out
	}
	if s == nil {
		if s = r.lookup(topic); s == nil {
			return out
		}
	}
	accepted := len(s.cw) > 0
	for i := range r.tspecs {
		sp := &r.tspecs[i]
		if sp.window(s.slab).add(sp, ns, v) {
			accepted = true
		} else {
			r.stats.Late++
		}
	}
	for i := range s.cw {
		s.cw[i].add(r.counts[i], sample{t: ns, v: v})
	}
	if !accepted {
		return out
	}
	r.stats.Samples++
	s.dirty = true
	if ns >= s.last.t {
		s.last, s.topic = sample{t: ns, v: v}, topic
	}
	if emit && r.emitEvery == 0 {
		out = r.emit(s, ns, true, out)
	}
	return out
}

// eval returns window w of s at time end (ns) and the window's newest sample.
func (r *rule) eval(s *series, w winRef, end int64) (acc, sample) {
	if w.span > 0 {
		sp := &r.tspecs[w.i]
		return sp.window(s.slab).eval(sp, floorDiv(end, sp.width)), s.last
	}
	cw := &s.cw[w.i]
	if len(cw.ring) == 0 {
		return acc{}, sample{}
	}
	return cw.eval(), cw.last()
}

// emit appends the outputs of the non-empty windows of s at time end;
// count windows only if counts is set.
func (r *rule) emit(s *series, end int64, counts bool, out []Output) []Output {
	for _, w := range r.windows {
		if w.count > 0 && !counts {
			continue
		}
		a, last := r.eval(s, w, end)
		if a.n == 0 {
			continue
		}
		out = append(out, r.render(s, w, &a, last))
		r.stats.Emits++
	}
	return out
}

// sweep drops the series idle for longer than idle_expiry. It scans at most
// every idle/16 (at least every second): expiry may be that late.
func (r *rule) sweep(now int64) {
	every := max(r.idle/16, int64(time.Second))
	if now < r.nextSweep && r.nextSweep-now <= every { // else the clock stepped back
		return
	}
	r.nextSweep = now + every
	for i := 0; i < len(r.list); {
		s := r.list[i]
		if now-s.last.t <= r.idle {
			i++
			continue
		}
		last := r.list[len(r.list)-1]
		r.list[i] = last
		r.list[len(r.list)-1] = nil
		r.list = r.list[:len(r.list)-1]
		delete(r.m, s.key)
		r.stats.Expired++
	}
}

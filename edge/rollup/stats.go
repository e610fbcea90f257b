package rollup

import (
	"sort"
	"time"
)

// Counters are the cumulative counts of a rule (or of all rules).
type Counters struct {
	// Samples is how many samples entered at least one window.
	Samples uint64 `json:"samples"`
	// Skipped is how many matching messages had no number (not a number,
	// or the field missing).
	Skipped uint64 `json:"skipped"`
	// Late counts (sample, time window) pairs dropped because the sample
	// was older than the window's oldest bucket.
	Late uint64 `json:"late"`
	// Overflow is how many samples were dropped because their series would
	// exceed max_series.
	Overflow uint64 `json:"overflow"`
	// Expired is how many series were dropped after idle_expiry.
	Expired uint64 `json:"expired"`
	// Emits is how many outputs were produced.
	Emits uint64 `json:"emits"`
	// Series is the number of series now.
	Series int `json:"series"`
}

func (c *Counters) add(o Counters) {
	c.Samples += o.Samples
	c.Skipped += o.Skipped
	c.Late += o.Late
	c.Overflow += o.Overflow
	c.Expired += o.Expired
	c.Emits += o.Emits
	c.Series += o.Series
}

// RuleStats are the counters of one rule.
type RuleStats struct {
	Rule string `json:"rule"`
	Counters
}

// Stats are the engine's counters: the totals and each rule's.
type Stats struct {
	Counters
	Rules []RuleStats `json:"rules"`
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	var st Stats
	for _, r := range e.rules {
		c := r.stats
		c.Series = len(r.list)
		st.Rules = append(st.Rules, RuleStats{Rule: r.cfg.Name, Counters: c})
		st.add(c)
	}
	return st
}

// SeriesView is one series' current aggregates, for the status API.
type SeriesView struct {
	Rule    string       `json:"rule"`
	Series  string       `json:"series"`
	Topic   string       `json:"topic"`
	Windows []WindowView `json:"windows"`
}

// WindowView is one window of a series. Values holds one entry per
// function of the rule that is defined (no rate for a single sample).
type WindowView struct {
	Window string             `json:"window"`
	Count  int                `json:"count"`
	First  time.Time          `json:"first_at"`
	Last   time.Time          `json:"last_at"`
	Values map[string]float64 `json:"values"`
}

// Snapshot returns every series' windows as of now, by rule and then by
// series key. Empty windows have Count 0 and no values. It does not change
// the engine.
func (e *Engine) Snapshot(now time.Time) []SeriesView {
	ns := now.UnixNano()
	var out []SeriesView
	for _, r := range e.rules {
		start := len(out)
		for _, s := range r.list {
			out = append(out, r.view(s, ns))
		}
		part := out[start:]
		sort.Slice(part, func(i, j int) bool { return part[i].Series < part[j].Series })
	}
	return out
}

func (r *rule) view(s *series, ns int64) SeriesView {
	v := SeriesView{Rule: r.cfg.Name, Series: s.key, Topic: s.topic}
	for _, w := range r.windows {
		a, last := r.eval(s, w, ns)
		wv := WindowView{Window: w.label, Count: int(a.n)}
		if a.n > 0 {
			wv.First, wv.Last = time.Unix(0, a.t0).UTC(), time.Unix(0, last.t).UTC()
			wv.Values = make(map[string]float64, len(r.fns))
			for _, f := range r.fns {
				if x, ok := value(f, &a, last); ok {
					wv.Values[fnNames[f]] = x
				}
			}
		}
		v.Windows = append(v.Windows, wv)
	}
	return v
}

package rollup

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// stream describes a random sample stream for the window tests.
type stream struct {
	step      time.Duration // mean gap between samples
	jitter    time.Duration // how far a sample may be back in time (out of order)
	gapEvery  int           // every gapEvery samples, a silence of gap (0: none)
	gap       time.Duration
	series    int
	offset    float64   // added to every value (numeric stability)
	msAligned bool      // sample times on whole milliseconds
	start     time.Time // first sample time (zero: epoch)
}

var epoch = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func TestWindowsMatchReference(t *testing.T) {
	all := []string{"avg", "min", "max", "sum", "count", "stddev", "last", "rate"}
	cases := []struct {
		name      string
		windows   []string
		buckets   int
		functions []string
		s         stream
	}{
		{"sliding 1m/5m in order", []string{"1m", "5m"}, 15, all, stream{step: 700 * time.Millisecond, series: 3}},
		{"out of order within buckets", []string{"1m"}, 12, all, stream{step: time.Second, jitter: 3 * time.Second, series: 2}},
		{"out of order beyond window is late", []string{"10s"}, 5, all, stream{step: time.Second, jitter: 30 * time.Second, series: 1}},
		{"gaps longer than the window", []string{"30s", "2m"}, 10, all, stream{step: 2 * time.Second, gapEvery: 40, gap: 3 * time.Minute, series: 2}},
		{"wide buckets (coarse first time)", []string{"1h"}, 4, all, stream{step: 20 * time.Second, jitter: time.Minute, series: 2, msAligned: true}},
		{"large offset values", []string{"1m"}, 15, all, stream{step: 500 * time.Millisecond, series: 1, offset: 1e6}},
		{"count windows", []string{"last 1", "last 7", "last 50"}, 15, all, stream{step: time.Second, jitter: 2 * time.Second, series: 3}},
		{"mixed, subset of functions", []string{"last 20", "15m", "1m"}, 30, []string{"rate", "avg", "last"}, stream{step: 3 * time.Second, jitter: time.Second, gapEvery: 100, gap: 20 * time.Minute, series: 4}},
		{"across the Unix epoch", []string{"1m", "7s"}, 7, all, stream{step: 300 * time.Millisecond, jitter: 5 * time.Second, series: 2, start: time.Unix(-90, 0)}},
		{"many buckets", []string{"1m"}, 1000, []string{"min", "max", "count"}, stream{step: 10 * time.Millisecond, series: 1}},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			rule := Rule{Name: "r", Filter: "s/#", Windows: tc.windows, Functions: tc.functions, Buckets: tc.buckets, Emit: "1h", IdleExpiry: 24 * time.Hour, MaxSeries: 100}
			e, err := New(Options{Rules: []Rule{rule}})
			if err != nil {
				t.Fatal(err)
			}
			c := e.rules[0]
			refs := make([][]any, tc.s.series)
			for i := range refs {
				for _, w := range c.windows {
					if w.span > 0 {
						sp := c.tspecs[w.i]
						refs[i] = append(refs[i], &refTime{width: sp.width, n: sp.n})
					} else {
						refs[i] = append(refs[i], &refCount{n: w.count})
					}
				}
			}
			now := epoch
			if !tc.s.start.IsZero() {
				now = tc.s.start
			}
			var late uint64
			for seq := range 3000 {
				now = now.Add(time.Duration(rng.Int64N(int64(2 * tc.s.step))))
				if tc.s.gapEvery > 0 && seq%tc.s.gapEvery == tc.s.gapEvery-1 {
					now = now.Add(tc.s.gap)
				}
				at := now
				if tc.s.jitter > 0 && rng.IntN(3) == 0 {
					at = at.Add(-time.Duration(rng.Int64N(int64(tc.s.jitter))))
				}
				if tc.s.msAligned {
					at = at.Truncate(time.Millisecond)
				}
				v := tc.s.offset + float64(rng.IntN(20000))/100 - 50
				si := rng.IntN(tc.s.series)
				topic := "s/" + strconv.Itoa(si)
				e.Observe(topic, []byte(strconv.FormatFloat(v, 'f', -1, 64)), at)
				rs := refSample{t: at.UnixNano(), v: v, seq: seq}
				for _, r := range refs[si] {
					switch r := r.(type) {
					case *refTime:
						if !r.add(rs) {
							late++
						}
					case *refCount:
						r.add(rs)
					}
				}
				if seq%17 == 0 || seq == 2999 {
					checkSnapshot(t, e, refs, now, fmt.Sprintf("seq %d", seq), tc.s.offset+150)
				}
			}
			if got := e.Stats().Late; got != late {
				t.Errorf("late = %d, want %d", got, late)
			}
			// Silence: windows empty out as now moves past them.
			for _, d := range []time.Duration{30 * time.Second, 5 * time.Minute, 2 * time.Hour} {
				checkSnapshot(t, e, refs, now.Add(d), "silence "+d.String(), tc.s.offset+150)
			}
		})
	}
}

// unitOf is the first-time resolution of buckets of width ns.
func unitOf(width int64) int64 {
	u := int64(1)
	for width/u >= 1<<32 {
		u *= 10
	}
	return u
}

func checkSnapshot(t *testing.T, e *Engine, refs [][]any, now time.Time, ctx string, scale float64) {
	t.Helper()
	fns := e.rules[0].cfg.Functions
	views := map[string]SeriesView{}
	for _, v := range e.Snapshot(now) {
		views[v.Series] = v
	}
	for si, rs := range refs {
		v, ok := views["s/"+strconv.Itoa(si)]
		if !ok {
			continue // series had no sample yet
		}
		for wi, r := range rs {
			where := fmt.Sprintf("%s series %d window %s", ctx, si, v.Windows[wi].Window)
			switch r := r.(type) {
			case *refTime:
				checkWindow(t, where, v.Windows[wi], r.window(now.UnixNano()), false, scale, fns, unitOf(r.width), r.width)
			case *refCount:
				checkWindow(t, where, v.Windows[wi], r.window(), true, scale, fns, 0, 0)
			}
		}
	}
}

package rollup

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"
)

func mustNew(t testing.TB, rules ...Rule) *Engine {
	t.Helper()
	e, err := New(Options{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func at(d time.Duration) time.Time { return epoch.Add(d) }

// outputs renders outputs as "topic payload" lines for comparison.
func outputs(outs []Output) []string {
	var s []string
	for _, o := range outs {
		s = append(s, o.Topic+" "+string(o.Payload))
	}
	return s
}

func equalLines(t *testing.T, ctx string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got  %q\n want %q", ctx, got, want)
	}
}

func TestTickEmitsExactAggregates(t *testing.T) {
	e := mustNew(t, Rule{Name: "temps", Filter: "s/+/temp", Field: "value", Windows: []string{"1m", "last 3"},
		Functions: []string{"avg", "min", "max", "sum", "count", "stddev", "last", "rate"}, Emit: "10s"})
	for i, v := range []float64{10, 20, 30, 40} {
		if outs := e.Observe("s/1/temp", fmt.Appendf(nil, `{"value":%v}`, v), at(time.Duration(i+1)*time.Second)); outs != nil {
			t.Fatalf("Observe returned %v for a periodic rule", outs)
		}
	}
	equalLines(t, "first tick", outputs(e.Tick(at(5*time.Second))), []string{
		`rollup/temps/s/1/temp/1m {"rule":"temps","series":"s/1/temp","window":"1m","count":4,` +
			`"first_at":"2026-11-22T00:00:01Z","last_at":"2026-11-22T00:00:04Z",` +
			`"avg":25,"min":10,"max":40,"sum":100,"stddev":11.180339887498949,"last":40,"rate":10}`,
		`rollup/temps/s/1/temp/last3 {"rule":"temps","series":"s/1/temp","window":"last3","count":3,` +
			`"first_at":"2026-11-22T00:00:02Z","last_at":"2026-11-22T00:00:04Z",` +
			`"avg":30,"min":20,"max":40,"sum":90,"stddev":8.16496580927726,"last":40,"rate":10}`,
	})
	if outs := e.Tick(at(9 * time.Second)); len(outs) != 0 {
		t.Fatalf("tick before the next 10s boundary emitted %q", outputs(outs))
	}
	outs := e.Tick(at(10 * time.Second))
	if len(outs) != 1 || outs[0].Topic != "rollup/temps/s/1/temp/1m" {
		t.Fatalf("tick at 10s: %q, want only the time window (count window unchanged)", outputs(outs))
	}
	if outs := e.Tick(at(2 * time.Minute)); len(outs) != 0 {
		t.Fatalf("tick after the window emptied: %q", outputs(outs))
	}
	e.Observe("s/1/temp", []byte(`{"value":-5}`), at(2*time.Minute+time.Second))
	equalLines(t, "after a new sample", outputs(e.Tick(at(2*time.Minute+10*time.Second))), []string{
		`rollup/temps/s/1/temp/1m {"rule":"temps","series":"s/1/temp","window":"1m","count":1,` +
			`"first_at":"2026-11-22T00:02:01Z","last_at":"2026-11-22T00:02:01Z",` +
			`"avg":-5,"min":-5,"max":-5,"sum":-5,"stddev":0,"last":-5,"rate":null}`,
		`rollup/temps/s/1/temp/last3 {"rule":"temps","series":"s/1/temp","window":"last3","count":3,` +
			`"first_at":"2026-11-22T00:00:03Z","last_at":"2026-11-22T00:02:01Z",` +
			`"avg":21.666666666666668,"min":-5,"max":40,"sum":65,"stddev":19.293061504650375,"last":-5,"rate":-0.2966101694915254}`,
	})
	st := e.Stats()
	want := Counters{Samples: 5, Emits: 5, Series: 1}
	if st.Counters != want || len(st.Rules) != 1 || st.Rules[0].Rule != "temps" || st.Rules[0].Counters != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

func TestTickSurvivesClockStepBack(t *testing.T) {
	e := mustNew(t, Rule{Name: "t", Filter: "s/+", Windows: []string{"1h"}, Emit: "1m"})
	e.Observe("s/1", []byte("1"), at(time.Second))
	if n := len(e.Tick(at(30 * time.Minute))); n != 1 {
		t.Fatalf("first tick: %d outputs", n)
	}
	if n := len(e.Tick(at(time.Minute))); n != 1 { // the clock stepped back 29m
		t.Fatalf("tick after the clock stepped back: %d outputs, want 1 at once", n)
	}
	if n := len(e.Tick(at(time.Minute + 30*time.Second))); n != 0 {
		t.Fatalf("tick within the interval: %d outputs", n)
	}
	if n := len(e.Tick(at(2 * time.Minute))); n != 1 {
		t.Fatalf("tick at the next interval: %d outputs", n)
	}
}

func TestOnUpdateEmitsEverySample(t *testing.T) {
	e := mustNew(t, Rule{Name: "vib", Filter: "m/+/vib", Windows: []string{"last 2"}, Functions: []string{"avg"},
		Emit: EmitOnUpdate, Output: "agg/{series}/{window}"})
	var got []string
	for i, v := range []string{"1", "3", "8"} {
		got = append(got, outputs(e.Observe("m/7/vib", []byte(v), at(time.Duration(i)*time.Second)))...)
	}
	equalLines(t, "on_update", got, []string{
		`agg/m/7/vib/last2 {"rule":"vib","series":"m/7/vib","window":"last2","count":1,"first_at":"2026-11-22T00:00:00Z","last_at":"2026-11-22T00:00:00Z","avg":1}`,
		`agg/m/7/vib/last2 {"rule":"vib","series":"m/7/vib","window":"last2","count":2,"first_at":"2026-11-22T00:00:00Z","last_at":"2026-11-22T00:00:01Z","avg":2}`,
		`agg/m/7/vib/last2 {"rule":"vib","series":"m/7/vib","window":"last2","count":2,"first_at":"2026-11-22T00:00:01Z","last_at":"2026-11-22T00:00:02Z","avg":5.5}`,
	})
	if outs := e.Tick(at(time.Minute)); len(outs) != 0 {
		t.Fatalf("Tick of an on_update rule emitted %q", outputs(outs))
	}
}

func TestSkippedPayloads(t *testing.T) {
	e := mustNew(t, Rule{Name: "t", Filter: "s/#", Field: "data.temp", Windows: []string{"1m"}})
	for _, p := range []string{``, `21.5`, `{"data":{}}`, `{"data":{"temp":"21.5"}}`, `{"data":{"temp":null}}`, `{"data":`, `not json`} {
		if outs := e.Observe("s/1", []byte(p), epoch); outs != nil {
			t.Fatalf("outputs for %q", p)
		}
	}
	e.Observe("s/1", []byte(`{"data":{"temp":1}}`), epoch)
	e.Observe("other", []byte(`{"data":{"temp":1}}`), epoch)
	st := e.Stats()
	if st.Skipped != 7 || st.Samples != 1 || st.Series != 1 {
		t.Fatalf("stats %+v: want 7 skipped, 1 sample, 1 series", st.Counters)
	}
}

func TestSeriesCapAndExpiry(t *testing.T) {
	e := mustNew(t, Rule{Name: "t", Filter: "s/+", Windows: []string{"1m"}, MaxSeries: 2, IdleExpiry: 10 * time.Minute})
	for i := range 4 {
		e.Observe("s/"+strconv.Itoa(i), []byte("1"), at(time.Duration(i)*time.Minute))
	}
	st := e.Stats()
	if st.Series != 2 || st.Overflow != 2 || st.Samples != 2 {
		t.Fatalf("after 4 series with a cap of 2: %+v", st.Counters)
	}
	e.Tick(at(10 * time.Minute)) // s/0 is exactly 10m old: kept
	if got := len(e.Snapshot(at(10 * time.Minute))); got != 2 {
		t.Fatalf("%d series at 10m, want 2", got)
	}
	e.Tick(at(10*time.Minute + time.Second)) // the sweep runs at most every 37.5s
	e.Tick(at(11*time.Minute + 2*time.Second))
	views := e.Snapshot(at(11*time.Minute + 2*time.Second))
	if len(views) != 0 || e.Stats().Expired != 2 {
		t.Fatalf("after idle expiry: %d series, stats %+v", len(views), e.Stats().Counters)
	}
	e.Observe("s/3", []byte("2"), at(12*time.Minute))
	if st := e.Stats(); st.Series != 1 || st.Overflow != 2 {
		t.Fatalf("a new series after expiry: %+v", st.Counters)
	}
}

func TestOwnOutputsNeverFeedBack(t *testing.T) {
	e := mustNew(t,
		Rule{Name: "all", Filter: "#", Windows: []string{"1m", "last 5"}, Emit: EmitOnUpdate},
		Rule{Name: "flat", Filter: "s/+", Windows: []string{"1m"}, Output: "flat/{window}", Emit: EmitOnUpdate},
	)
	outs := e.Observe("s/1", []byte("5"), epoch)
	if len(outs) != 3 {
		t.Fatalf("outputs %q, want 3", outputs(outs))
	}
	before := e.Stats()
	for _, o := range outs {
		if e.Matches(o.Topic) {
			t.Errorf("Matches(%q) = true for an output topic", o.Topic)
		}
		if more := e.Observe(o.Topic, []byte("5"), epoch); more != nil {
			t.Errorf("observing output %q produced %q", o.Topic, outputs(more))
		}
	}
	if after := e.Stats(); after.Samples != before.Samples || after.Series != before.Series {
		t.Fatalf("outputs were observed: %+v -> %+v", before.Counters, after.Counters)
	}
	if !e.Matches("s/1") || !e.Matches("x/y/z") || !e.Matches("flat/5m") {
		t.Error("Matches rejects an input topic")
	}
}

func TestOutputIsValidJSON(t *testing.T) {
	e := mustNew(t, Rule{Name: "t", Filter: "#", Windows: []string{"last 2"}, Functions: []string{"sum", "rate"}, Emit: EmitOnUpdate})
	topic := "s/\"q\"\\/\x01/\xff/é"
	e.Observe(topic, []byte("1e308"), epoch)
	outs := e.Observe(topic, []byte("1e308"), epoch)
	var doc map[string]any
	if err := json.Unmarshal(outs[0].Payload, &doc); err != nil {
		t.Fatalf("%q: %v", outs[0].Payload, err)
	}
	if doc["series"] != "s/\"q\"\\/\x01/\uFFFD/é" || doc["sum"] != nil || doc["rate"] != nil {
		t.Fatalf("doc %v: want the escaped series, an infinite sum and an undefined rate as null", doc)
	}
}

func TestSeriesTemplatePoolsTopics(t *testing.T) {
	e := mustNew(t, Rule{Name: "site", Filter: "s/+/temp", Series: "{name}-all", Windows: []string{"1m"},
		Functions: []string{"avg", "last"}, Output: "site/{series}/{topic}"})
	e.Observe("s/1/temp", []byte("10"), at(time.Second))
	e.Observe("s/2/temp", []byte("20"), at(2*time.Second))
	equalLines(t, "pooled", outputs(e.Tick(at(3*time.Second))), []string{
		`site/site-all/s/2/temp {"rule":"site","series":"site-all","window":"1m","count":2,"first_at":"2026-11-22T00:00:01Z","last_at":"2026-11-22T00:00:02Z","avg":15,"last":20}`,
	})
}

// TestReplayRebuildsWindows restarts an engine: a new one replays the last
// ReplaySpan of the stream with the original times and then agrees with the
// engine that never stopped.
func TestReplayRebuildsWindows(t *testing.T) {
	rules := []Rule{
		{Name: "t", Filter: "s/+/temp", Field: "v", Windows: []string{"1m", "5m", "last 10"},
			Functions: []string{"avg", "min", "max", "stddev", "last", "rate"}},
		{Name: "u", Filter: "s/+/temp", Field: "v", Windows: []string{"last 3"}, Emit: EmitOnUpdate},
	}
	type rec struct {
		topic   string
		payload []byte
		t       time.Time
	}
	var log []rec
	live := mustNew(t, rules...)
	publish := func(e *Engine, from, to int) {
		for i := from; i < to; i++ {
			r := rec{fmt.Sprintf("s/%d/temp", i%5), fmt.Appendf(nil, `{"v":%d}`, (i*37)%101), at(time.Duration(i) * 700 * time.Millisecond)}
			log = append(log, r)
			e.Observe(r.topic, r.payload, r.t)
			e.Tick(r.t)
		}
	}
	publish(live, 0, 1000)
	restart := log[len(log)-1].t
	replayed := mustNew(t, rules...)
	for _, r := range log {
		if !r.t.Before(restart.Add(-replayed.ReplaySpan())) {
			replayed.Replay(r.topic, r.payload, r.t)
		}
	}
	if st := replayed.Stats(); st.Emits != 0 || st.Samples == 0 {
		t.Fatalf("replay: %+v, want samples and no emits", st.Counters)
	}
	sameSnapshots(t, "after replay", live.Snapshot(restart), replayed.Snapshot(restart))
	for i := 1000; i < 1300; i++ {
		n := len(log)
		publish(live, i, i+1)
		r := log[n]
		replayed.Observe(r.topic, r.payload, r.t)
	}
	now := log[len(log)-1].t
	sameSnapshots(t, "after more samples", live.Snapshot(now), replayed.Snapshot(now))
}

func sameSnapshots(t *testing.T, ctx string, a, b []SeriesView) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d series vs %d", ctx, len(a), len(b))
	}
	for i := range a {
		for j, w := range a[i].Windows {
			v := b[i].Windows[j]
			if w.Count != v.Count || !w.First.Equal(v.First) || !w.Last.Equal(v.Last) || len(w.Values) != len(v.Values) {
				t.Fatalf("%s: %s %s: %+v vs %+v", ctx, a[i].Series, w.Window, w, v)
			}
			for k, x := range w.Values {
				if !near(x, v.Values[k], 100) {
					t.Fatalf("%s: %s %s %s: %v vs %v", ctx, a[i].Series, w.Window, k, x, v.Values[k])
				}
			}
		}
	}
}

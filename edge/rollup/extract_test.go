package rollup

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	cases := []struct {
		payload string
		field   string
		want    float64
		ok      bool
	}{
		{"21.5", "", 21.5, true},
		{" \n-3e2\r\n", "", -300, true},
		{"0", "", 0, true},
		{"21.5 C", "", 0, false},
		{"+5", "", 0, false},
		{"0x10", "", 0, false},
		{"NaN", "", 0, false},
		{"Inf", "", 0, false},
		{"1e400", "", 0, false},
		{"01", "", 0, false},
		{"1.", "", 0, false},
		{"", "", 0, false},
		{`"21.5"`, "", 0, false},
		{`{"value":21.5}`, "value", 21.5, true},
		{`{"value":"21.5"}`, "value", 0, false},
		{`{"value":true}`, "value", 0, false},
		{`{"value":null}`, "value", 0, false},
		{`{"other":1}`, "value", 0, false},
		{`{"data":{"temp":-4.25,"hum":40}}`, "data.temp", -4.25, true},
		{`{"data":{"hum":40}}`, "data.temp", 0, false},
		{`{"data":[1,2]}`, "data.temp", 0, false},
		{`{"a":{"temp":1},"data":{"x":[{"temp":2}],"temp":3}}`, "data.temp", 3, true},
		{`{"v":1,"v":2}`, "v", 2, true},
		{`{"te\u006dp":7}`, "temp", 7, true},
		{`{"tëmp":8}`, "tëmp", 8, true},
		{`{"s":"a\"}{","v":9}`, "v", 9, true},
		{` { "v" : 1e3 } `, "v", 1000, true},
		{`{"v":1`, "v", 0, false},
		{`[{"v":1}]`, "v", 0, false},
		{`{"v":1}`, "", 0, false},
		{`{"v":12abc}`, "v", 0, false},
	}
	for _, tc := range cases {
		var path []string
		if tc.field != "" {
			path = strings.Split(tc.field, ".")
		}
		got, ok := extract([]byte(tc.payload), path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("extract(%q, %q) = %v, %v; want %v, %v", tc.payload, tc.field, got, ok, tc.want, tc.ok)
		}
	}
}

func TestExtractDoesNotAllocate(t *testing.T) {
	payload := []byte(`{"id":"s1","data":{"temp":21.5,"hum":40}}`)
	path := []string{"data", "temp"}
	if n := testing.AllocsPerRun(100, func() { extract(payload, path) }); n != 0 {
		t.Errorf("extract allocates %v times per call", n)
	}
}

// refExtract is extract done with encoding/json.
func refExtract(payload []byte, path []string) (float64, bool) {
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return 0, false
	}
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		if v, ok = m[k]; !ok {
			return 0, false
		}
	}
	f, ok := v.(float64)
	return f, ok
}

// FuzzExtract checks extract's contract: it never panics, returns only
// finite numbers, and on a valid JSON document agrees with encoding/json.
func FuzzExtract(f *testing.F) {
	f.Add([]byte(`{"data":{"temp":21.5}}`), "data.temp")
	f.Add([]byte(`{"v":1,"v":[2]}`), "v")
	f.Add([]byte(`{"\u0076":-0.5e-3}`), "v")
	f.Add([]byte(` 42 `), "")
	f.Add([]byte(`{"a":{"b":{"c":1e308}}}`), "a.b.c")
	f.Fuzz(func(t *testing.T, payload []byte, field string) {
		var path []string
		if field != "" {
			path = strings.Split(field, ".")
		}
		got, ok := extract(payload, path)
		if ok && (math.IsNaN(got) || math.IsInf(got, 0)) {
			t.Fatalf("extract(%q, %q) = %v", payload, field, got)
		}
		if !json.Valid(payload) {
			return
		}
		want, wok := refExtract(payload, path)
		if ok != wok || (ok && got != want) {
			t.Fatalf("extract(%q, %q) = %v, %v; encoding/json says %v, %v", payload, field, got, ok, want, wok)
		}
	})
}

func TestFilterMatch(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b", "a", false},
		{"a/+", "a/b", true},
		{"a/+", "a/", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "x/y", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"+/+/temp", "s/1/temp", true},
		{"+/+/temp", "s/1/hum", false},
		{"/+", "/x", true},
		{"a/+/#", "a/b", true},
		{"a/+/#", "a", false},
	}
	for _, tc := range cases {
		f, err := parseFilter(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.match(tc.topic); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
		// The engine's own shortcuts (filter prefix, known series) agree.
		e := mustNew(t, Rule{Name: "r", Filter: tc.filter, Windows: []string{"last 1"}, Output: "out/{window}"})
		for range 2 {
			e.Observe(tc.topic, []byte("1"), epoch)
		}
		if got := e.Stats().Samples; e.Matches(tc.topic) != tc.want || (got == 2) != tc.want {
			t.Errorf("engine with filter %q: Matches(%q) = %v, %d samples; want %v", tc.filter, tc.topic, e.Matches(tc.topic), got, tc.want)
		}
	}
}

func TestOutputGlob(t *testing.T) {
	cases := []struct {
		tpl, topic string
		want       bool
	}{
		{"rollup/{name}/{series}/{window}", "rollup/t/s/1/temp/5m", true},
		{"rollup/{name}/{series}/{window}", "rollup/t/s/1/temp/1m", false},
		{"rollup/{name}/{series}/{window}", "rollup/u/s/5m", false},
		{"rollup/{name}/{series}/{window}", "s/1/temp", false},
		{"{series}/avg/{window}", "s/1/avg/5m", true},
		{"{series}/avg/{window}", "s/1/5m", false},
		{"{topic}{series}", "anything", true},
		{"fixed/{name}", "fixed/t", true},
		{"fixed/{name}", "fixed/t/x", false},
		{"a/{series}/b/{topic}/c", "a/x/b/y/c", true},
		{"a/{series}/b/{topic}/c", "a/x/c", false},
	}
	for _, tc := range cases {
		tpl, err := parseTemplate(tc.tpl, phName, phSeries, phTopic, phWindow)
		if err != nil {
			t.Fatal(err)
		}
		if got := outputGlob(tpl, "t", "5m").match(tc.topic); got != tc.want {
			t.Errorf("%q produces %q = %v, want %v", tc.tpl, tc.topic, got, tc.want)
		}
	}
}

// FuzzRule checks that validation never panics, and that a valid rule
// builds an engine whose outputs it never observes again.
func FuzzRule(f *testing.F) {
	f.Add("t", "s/+/temp", "data.temp", "{topic}", "5m", "last 20", "avg", "rate", "rollup/{name}/{series}/{window}", "on_update", 15)
	f.Add("a", "#", "", "all", "1s", "1h", "stddev", "min", "{series}", "10s", 2)
	f.Add("b", "x/#", "v", "{name}/{topic}", "last 1", "90s", "last", "sum", "{window}/{topic}", "1m", 1000)
	f.Add("c", "#", "", "", "+5m", "last 2", "avg", "max", "", "on_update", 0)
	f.Fuzz(func(t *testing.T, name, filter, field, series, w1, w2, f1, f2, output, emit string, buckets int) {
		r := Rule{Name: name, Filter: filter, Field: field, Series: series, Windows: []string{w1, w2},
			Functions: []string{f1, f2}, Output: output, Emit: emit, Buckets: buckets}
		e, err := New(Options{Rules: []Rule{r}})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "rollup: invalid rule: rollups[0].") {
				t.Fatalf("error %q does not name the key", err)
			}
			return
		}
		payload := []byte(`{"v":1,"data":{"temp":2}}`)
		at := epoch
		for _, topic := range []string{"x/y", "s/1/temp", "a", "$SYS/x", "x"} {
			outs := e.Observe(topic, payload, at)
			outs = append(outs, e.Tick(at)...)
			for _, o := range outs {
				if o.Topic == "" || strings.ContainsAny(o.Topic, "+#\x00") {
					t.Fatalf("invalid output topic %q", o.Topic)
				}
				if !json.Valid(o.Payload) {
					t.Fatalf("invalid JSON %q", o.Payload)
				}
				before := e.Stats()
				if e.Matches(o.Topic) || len(e.Observe(o.Topic, o.Payload, at)) > 0 || e.Stats().Samples != before.Samples {
					t.Fatalf("output topic %q is observed again", o.Topic)
				}
			}
		}
	})
}

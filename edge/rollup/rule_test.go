package rollup

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestBadRules(t *testing.T) {
	ok := Rule{Name: "t", Filter: "s/+/temp", Windows: []string{"1m"}}
	cases := []struct {
		name string
		edit func(r *Rule)
		path string // expected RuleError path
		msg  string // substring of the message
	}{
		{"no name", func(r *Rule) { r.Name = "" }, "rollups[1].name", "letters"},
		{"name with slash", func(r *Rule) { r.Name = "a/b" }, "rollups[1].name", "letters"},
		{"no filter", func(r *Rule) { r.Filter = "" }, "rollups[1].filter", "empty"},
		{"plus inside level", func(r *Rule) { r.Filter = "s/a+/x" }, "rollups[1].filter", "whole level"},
		{"hash not last", func(r *Rule) { r.Filter = "s/#/x" }, "rollups[1].filter", "whole last level"},
		{"shared subscription", func(r *Rule) { r.Filter = "$share/g/s/#" }, "rollups[1].filter", "shared"},
		{"empty field key", func(r *Rule) { r.Field = "data..temp" }, "rollups[1].field", "empty key"},
		{"unknown series placeholder", func(r *Rule) { r.Series = "{device}" }, "rollups[1].series", "unknown placeholder {device}"},
		{"wildcard in series", func(r *Rule) { r.Series = "a+b" }, "rollups[1].series", "'+'"},
		{"window placeholder in series", func(r *Rule) { r.Series = "{window}" }, "rollups[1].series", "unknown placeholder"},
		{"unbalanced output", func(r *Rule) { r.Output = "x/{series" }, "rollups[1].output", "unbalanced"},
		{"wildcard output", func(r *Rule) { r.Output = "x/#" }, "rollups[1].output", "'#'"},
		{"dollar output", func(r *Rule) { r.Output = "$SYS/{series}" }, "rollups[1].output", "'$'"},
		{"no windows", func(r *Rule) { r.Windows = nil }, "rollups[1].windows", "at least one"},
		{"bad window", func(r *Rule) { r.Windows = []string{"1m", "5x"} }, "rollups[1].windows[1]", `"5x" is neither a duration`},
		{"signed window", func(r *Rule) { r.Windows = []string{"+5m"} }, "rollups[1].windows[0]", "neither a duration"},
		{"window too short", func(r *Rule) { r.Windows = []string{"10ms"} }, "rollups[1].windows[0]", "1s"},
		{"window too long", func(r *Rule) { r.Windows = []string{"200h"} }, "rollups[1].windows[0]", "168h"},
		{"count zero", func(r *Rule) { r.Windows = []string{"last 0"} }, "rollups[1].windows[0]", "last N"},
		{"count too big", func(r *Rule) { r.Windows = []string{"last 10001"} }, "rollups[1].windows[0]", "10000"},
		{"count not a number", func(r *Rule) { r.Windows = []string{"last ten"} }, "rollups[1].windows[0]", "last N"},
		{"duplicate window", func(r *Rule) { r.Windows = []string{"last 5", "last5"} }, "rollups[1].windows[1]", "twice"},
		{"unknown function", func(r *Rule) { r.Functions = []string{"avg", "median"} }, "rollups[1].functions[1]", "avg min max"},
		{"duplicate function", func(r *Rule) { r.Functions = []string{"avg", "avg"} }, "rollups[1].functions[1]", "twice"},
		{"bad emit", func(r *Rule) { r.Emit = "often" }, "rollups[1].emit", "on_update"},
		{"emit too fast", func(r *Rule) { r.Emit = "100ms" }, "rollups[1].emit", "at least 1s"},
		{"buckets", func(r *Rule) { r.Buckets = 1 }, "rollups[1].buckets", "2 to 1000"},
		{"max series", func(r *Rule) { r.MaxSeries = -1 }, "rollups[1].max_series", "positive"},
		{"expiry shorter than window", func(r *Rule) { r.Windows = []string{"15m"}; r.IdleExpiry = time.Minute }, "rollups[1].idle_expiry", "longest window 15m"},
		{"too much memory", func(r *Rule) { r.Windows = []string{"last 10000"} }, "rollups[1].max_series", "1528 MiB"},
		{"duplicate name", func(r *Rule) { r.Name = "first" }, "rollups[1].name", "rollups[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			r.Windows = append([]string(nil), ok.Windows...)
			tc.edit(&r)
			first := Rule{Name: "first", Filter: "#", Windows: []string{"last 3"}}
			_, err := New(Options{Rules: []Rule{first, r}})
			var re *RuleError
			if !errors.As(err, &re) || !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("New: %v, want a *RuleError", err)
			}
			if re.Path != tc.path || !strings.Contains(re.Msg, tc.msg) {
				t.Fatalf("error %q: want path %s and message containing %q", err, tc.path, tc.msg)
			}
		})
	}
}

func TestValidateReportsEveryBadRule(t *testing.T) {
	err := Options{Rules: []Rule{
		{Name: "a", Filter: "#", Windows: []string{"5x"}},
		{Name: "b", Filter: "#", Windows: []string{"1m"}},
		{Name: "c", Filter: "#", Windows: []string{"1m"}, Functions: []string{"p99"}},
	}}.Validate()
	if err == nil {
		t.Fatal("Validate: nil")
	}
	for _, want := range []string{"rollups[0].windows[0]", "rollups[2].functions[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "rollups[1]") {
		t.Errorf("error %q names the good rule", err)
	}
}

func TestRuleValidate(t *testing.T) {
	err := Rule{Name: "t", Filter: "#", Windows: []string{"1m", "5x"}}.Validate()
	var re *RuleError
	if !errors.As(err, &re) || re.Path != "windows[1]" {
		t.Fatalf("Rule.Validate: %v, want a RuleError at windows[1]", err)
	}
	if err := (Rule{Name: "t", Filter: "#", Windows: []string{"1m"}}).Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("DefaultOptions: %v", err)
	}
}

func TestRuleDefaults(t *testing.T) {
	e, err := New(Options{Rules: []Rule{
		{Name: "t", Filter: "s/#", Windows: []string{"5m", "last 20"}},
		{Name: "u", Filter: "u/#", Windows: []string{"2h"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := e.Rules()[0]
	want := Rule{Name: "t", Filter: "s/#", Series: "{topic}", Windows: []string{"5m", "last 20"},
		Functions: []string{"avg", "min", "max"}, Output: "rollup/{name}/{series}/{window}", Emit: "10s",
		Buckets: 15, MaxSeries: 10000, IdleExpiry: time.Hour}
	if got.Series != want.Series || got.Output != want.Output || got.Emit != want.Emit ||
		got.Buckets != want.Buckets || got.MaxSeries != want.MaxSeries || got.IdleExpiry != want.IdleExpiry ||
		strings.Join(got.Functions, ",") != strings.Join(want.Functions, ",") {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	if d := e.Rules()[1].IdleExpiry; d != 2*time.Hour {
		t.Errorf("idle expiry of a 2h window = %v, want 2h", d)
	}
	if d := e.ReplaySpan(); d != 2*time.Hour {
		t.Errorf("ReplaySpan = %v, want 2h (u's window; t's count window needs its 1h expiry)", d)
	}
	e.Rules()[0].Functions[0] = "changed"
	if e.Rules()[0].Functions[0] != "avg" {
		t.Error("Rules shares its slices with the engine")
	}
}

func TestRulesDecodeFromYAML(t *testing.T) {
	const doc = `
rollups:
  - name: temps
    filter: sensors/+/temp
    field: data.temp
    windows: [1m, 5m, "last 20"]
    functions: [avg, max, rate]
    output: "rollup/{series}/{window}"
    emit: 30s
    buckets: 12
    max_series: 500
    idle_expiry: 2h
`
	var cfg struct {
		Rollups []Rule `yaml:"rollups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Rules: cfg.Rollups})
	if err != nil {
		t.Fatal(err)
	}
	r := e.Rules()[0]
	if r.IdleExpiry != 2*time.Hour || r.Buckets != 12 || r.MaxSeries != 500 || len(r.Windows) != 3 || r.Field != "data.temp" {
		t.Fatalf("decoded %+v", r)
	}
	bad := yaml.NewDecoder(strings.NewReader("rollups:\n  - name: x\n    windowz: [1m]\n"))
	bad.KnownFields(true)
	if err := bad.Decode(&cfg); err == nil || !strings.Contains(err.Error(), "windowz") {
		t.Fatalf("unknown key: %v", err)
	}
}

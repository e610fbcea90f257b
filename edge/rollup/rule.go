package rollup

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rule is one rollup: which messages, where their number is, how they group
// into series, which windows and functions, and where the aggregates go.
// Zero fields take the defaults documented on each field.
type Rule struct {
	// Name identifies the rule in outputs, metrics and the API. Required;
	// letters, digits, '_', '-' and '.'; unique among rules.
	Name string `yaml:"name"`
	// Filter is the MQTT topic filter of the input messages (+ and # allowed).
	// Required.
	Filter string `yaml:"filter"`
	// Field is where the number is: "" for the whole payload as a number, or
	// a dotted JSON path such as "value" or "data.temp" (object keys only).
	Field string `yaml:"field"`
	// Series is the template of the series key. Placeholders: {topic}
	// {name}. Default "{topic}": each sensor topic is its own series; a
	// constant such as "all" pools every matching topic into one series.
	Series string `yaml:"series"`
	// Windows are sliding time windows such as "1m", "5m", "15m" (Go
	// durations, 1s to 7 days) and count windows such as "last 20" (the last
	// N samples, N from 1 to 10000). At least one; labels unique.
	Windows []string `yaml:"windows"`
	// Functions computed per window: avg min max sum count stddev last rate.
	// stddev is the population standard deviation; rate is (last - first
	// value) / (last - first time) per second. Default avg, min, max: what
	// a dashboard plots, at 32 bytes per bucket.
	Functions []string `yaml:"functions"`
	// Output is the template of the output topic. Placeholders: {name}
	// {series} {topic} {window}. Default "rollup/{name}/{series}/{window}".
	Output string `yaml:"output"`
	// Emit is how often aggregates are published: a duration of at least 1s,
	// or "on_update" to publish every window of a series on each of its
	// samples. Default "10s": fresh enough for a dashboard and a fraction
	// of a 1 Hz raw stream.
	Emit string `yaml:"emit"`
	// Buckets is how many buckets a time window is cut into (2 to 1000): a
	// window's edges move a bucket at a time. Default 15 (a 1m window moves
	// in 4s steps) keeps a window with every function under 1 KiB.
	Buckets int `yaml:"buckets"`
	// MaxSeries caps the series of this rule; samples of further series are
	// dropped and counted as overflow. Default 10000: a large site's
	// sensors, about 20 MB with three windows of avg/min/max. The rule's
	// estimated memory with all its series may not exceed MaxRuleMemory.
	MaxSeries int `yaml:"max_series"`
	// IdleExpiry drops a series whose newest sample is older than this.
	// Default the larger of 1h and the longest time window (a sensor silent
	// that long is gone, and its time windows are empty anyway); an
	// explicit value may not be shorter than the longest time window.
	IdleExpiry time.Duration `yaml:"idle_expiry"`
}

// Limits and defaults of a Rule.
const (
	DefaultSeries     = "{topic}"
	DefaultOutput     = "rollup/{name}/{series}/{window}"
	DefaultEmit       = "10s"
	EmitOnUpdate      = "on_update"
	DefaultBuckets    = 15
	DefaultMaxSeries  = 10000
	DefaultIdleExpiry = time.Hour
	MaxCountWindow    = 10000
	MinTimeWindow     = time.Second
	MaxTimeWindow     = 7 * 24 * time.Hour
	maxBuckets        = 1000
	// MaxRuleMemory bounds the estimated heap of a rule whose series are
	// all in use (MaxSeries of them): a gateway has little RAM, and a
	// "last 10000" window over 10000 series alone would take 1.5 GiB.
	MaxRuleMemory = 256 << 20
)

// DefaultFunctions are the functions of a rule that names none.
var DefaultFunctions = []string{"avg", "min", "max"}

// fn is an aggregate function.
type fn uint8

const (
	fnAvg fn = iota
	fnMin
	fnMax
	fnSum
	fnCount
	fnStddev
	fnLast
	fnRate
)

var fnNames = [...]string{"avg", "min", "max", "sum", "count", "stddev", "last", "rate"}

// Validate reports the first problem of the rule as a *RuleError whose path
// is relative to the rule (e.g. "windows[1]").
func (r Rule) Validate() error {
	_, err := compile(r)
	return err
}

// withDefaults returns a copy of r with zero fields set to their defaults.
func (r Rule) withDefaults() Rule {
	if r.Series == "" {
		r.Series = DefaultSeries
	}
	if len(r.Functions) == 0 {
		r.Functions = DefaultFunctions
	}
	r.Functions = append([]string(nil), r.Functions...)
	r.Windows = append([]string(nil), r.Windows...)
	if r.Output == "" {
		r.Output = DefaultOutput
	}
	if r.Emit == "" {
		r.Emit = DefaultEmit
	}
	if r.Buckets == 0 {
		r.Buckets = DefaultBuckets
	}
	if r.MaxSeries == 0 {
		r.MaxSeries = DefaultMaxSeries
	}
	return r
}

func bad(path, format string, args ...any) error {
	return &RuleError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// validName reports whether s is a non-empty [A-Za-z0-9_.-]+.
func validName(s string) bool {
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
		if !ok {
			return false
		}
	}
	return s != ""
}

// parseWindow parses "5m" (a time window) or "last 20" (a count window) and
// returns its label for topics and outputs ("5m", "last20").
func parseWindow(s string) (label string, span time.Duration, count int, err error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "last"); ok {
		n, perr := strconv.Atoi(strings.TrimSpace(rest))
		if perr != nil || n < 1 || n > MaxCountWindow {
			return "", 0, 0, fmt.Errorf("%q: a count window is \"last N\" with N from 1 to %d", s, MaxCountWindow)
		}
		return "last" + strconv.Itoa(n), 0, n, nil
	}
	d, perr := time.ParseDuration(s)
	if perr != nil || strings.ContainsAny(s, "+-") {
		return "", 0, 0, fmt.Errorf("%q is neither a duration (e.g. 1m, 5m, 15m) nor a count window (e.g. last 20)", s)
	}
	if d < MinTimeWindow || d > MaxTimeWindow {
		return "", 0, 0, fmt.Errorf("%q: a time window is from %v to %v", s, MinTimeWindow, MaxTimeWindow)
	}
	return s, d, 0, nil
}

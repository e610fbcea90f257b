package rollup

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Options configure an Engine.
type Options struct {
	// Rules are the rollups, decoded from the config file's `rollups` list;
	// errors name them rollups[i]. No rules: an engine that matches nothing.
	Rules []Rule `yaml:"rules"`
}

// DefaultOptions returns Options without rules: rollups are opt-in, since
// each rule costs memory per series.
func DefaultOptions() Options { return Options{} }

// Validate checks every rule and that names are unique. It reports all bad
// rules, each as a *RuleError with a path such as `rollups[2].windows[1]`.
func (o Options) Validate() error {
	_, err := compileAll(o.Rules)
	return err
}

func compileAll(rules []Rule) ([]*rule, error) {
	var errs []error
	var out []*rule
	names := map[string]int{}
	for i, r := range rules {
		prefix := fmt.Sprintf("rollups[%d]", i)
		c, err := compile(r)
		var re *RuleError
		switch {
		case errors.As(err, &re):
			errs = append(errs, &RuleError{Path: prefix + "." + re.Path, Msg: re.Msg})
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", prefix, err))
			continue
		}
		if j, dup := names[r.Name]; dup {
			errs = append(errs, bad(prefix+".name", "%q is also the name of rollups[%d]", r.Name, j))
			continue
		}
		names[r.Name] = i
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// Engine computes the rollups of a stream of messages. It is pure: no
// goroutines, no I/O; time comes in as arguments. It is not safe for
// concurrent use: its owner serializes every call.
type Engine struct {
	rules []*rule
	// globs match every topic the engine can publish to; such topics are
	// never observed, so outputs never feed back.
	globs []glob
}

// New validates opts and returns an engine for its rules.
func New(opts Options) (*Engine, error) {
	rules, err := compileAll(opts.Rules)
	if err != nil {
		return nil, err
	}
	e := &Engine{rules: rules}
	for _, r := range rules {
		for _, w := range r.windows {
			e.globs = append(e.globs, outputGlob(r.output, r.cfg.Name, w.label))
		}
	}
	return e, nil
}

// Output is one aggregate to publish. Payload is a JSON object:
//
//	{"rule":"temps","series":"s/1/temp","window":"5m","count":12,
//	 "first_at":"<RFC3339Nano>","last_at":"<RFC3339Nano>","avg":21.4,...}
//
// with one member per configured function ("count" is always present);
// a value that is undefined (rate of one sample) or not finite is null.
type Output struct {
	Topic   string
	Payload []byte
}

// isOutput reports whether topic is one the engine may publish to.
func (e *Engine) isOutput(topic string) bool {
	for _, g := range e.globs {
		if g.match(topic) {
			return true
		}
	}
	return false
}

// Matches reports whether Observe would use a message on topic: some rule's
// filter matches and the topic is not one of the engine's own outputs.
func (e *Engine) Matches(topic string) bool {
	for _, r := range e.rules {
		if r.filter.match(topic) {
			return !e.isOutput(topic)
		}
	}
	return false
}

// Observe feeds one message, received at t, to every rule whose filter
// matches. It returns the outputs of on_update rules (nil otherwise).
func (e *Engine) Observe(topic string, payload []byte, t time.Time) []Output {
	return e.observe(topic, payload, t, true)
}

// Replay is Observe without outputs. To rebuild windows after a restart,
// replay the log's records of the last ReplaySpan, in log order and with
// their original times, then resume with Observe and Tick.
func (e *Engine) Replay(topic string, payload []byte, t time.Time) {
	e.observe(topic, payload, t, false)
}

func (e *Engine) observe(topic string, payload []byte, t time.Time, emit bool) []Output {
	var out []Output
	checked := false
	for _, r := range e.rules {
		if !strings.HasPrefix(topic, r.prefix) {
			continue
		}
		// A topic that already keys a series matched the filter and is not
		// an output: skip both checks (the common case, and measurably
		// faster than matching first).
		s := r.known(topic)
		if s == nil {
			if !r.filter.match(topic) {
				continue
			}
			if !checked {
				if e.isOutput(topic) {
					return nil
				}
				checked = true
			}
		}
		out = r.observe(s, topic, payload, t.UnixNano(), emit, out)
	}
	return out
}

// Tick advances the engine's clock to now: it drops series idle for longer
// than their rule's idle_expiry, and returns the outputs that are due. A rule
// emits on its first Tick and then whenever now reaches the next multiple
// of its emit interval (missed intervals are not caught up; after the clock
// steps back, at once): every non-empty
// time window of every series, and the count windows of series that had a
// sample since the last emit.
func (e *Engine) Tick(now time.Time) []Output {
	ns := now.UnixNano()
	var out []Output
	for _, r := range e.rules {
		r.sweep(ns)
		// A next emit more than an interval ahead means the clock stepped
		// back: emit now rather than wait for the old schedule.
		if r.emitEvery == 0 || (ns < r.nextEmit && r.nextEmit-ns <= r.emitEvery) {
			continue
		}
		r.nextEmit = (floorDiv(ns, r.emitEvery) + 1) * r.emitEvery
		for _, s := range r.list {
			out = r.emit(s, ns, s.dirty, out)
			s.dirty = false
		}
	}
	return out
}

// ReplaySpan is how far back the log must be replayed after a restart to
// rebuild every window: the longest time window, or the idle expiry for a
// rule with count windows (their samples may be that old).
func (e *Engine) ReplaySpan() time.Duration {
	var d time.Duration
	for _, r := range e.rules {
		d = max(d, r.longest)
		if len(r.counts) > 0 {
			d = max(d, time.Duration(r.idle))
		}
	}
	return d
}

// Rules returns the rules with their defaults filled in.
func (e *Engine) Rules() []Rule {
	out := make([]Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.cfg
		out[i].Windows = append([]string(nil), r.cfg.Windows...)
		out[i].Functions = append([]string(nil), r.cfg.Functions...)
	}
	return out
}

// value returns function f of a window whose newest sample is last.
func value(f fn, a *acc, last sample) (float64, bool) {
	var v float64
	switch f {
	case fnAvg:
		v = a.sum / float64(a.n)
	case fnMin:
		v = a.min
	case fnMax:
		v = a.max
	case fnSum:
		v = a.sum
	case fnCount:
		v = float64(a.n)
	case fnStddev:
		v = math.Sqrt(math.Max(0, a.m2/float64(a.n)))
	case fnLast:
		v = last.v
	case fnRate:
		dt := last.t - a.t0
		if a.n < 2 || dt <= 0 {
			return 0, false
		}
		v = (last.v - a.v0) / (float64(dt) / 1e9)
	}
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

package rollup

import (
	"fmt"
	"strings"
	"time"
)

// winRef is one configured window, in rule order: a time window (span > 0,
// index into rule.tspecs) or a count window (count > 0, index into
// rule.counts).
type winRef struct {
	label string
	span  time.Duration
	count int
	i     int
}

// compile validates r and builds its runtime form.
func compile(r Rule) (*rule, error) {
	r = r.withDefaults()
	c := &rule{cfg: r, maxSeries: r.MaxSeries, m: make(map[string]*series)}
	var err error
	if !validName(r.Name) {
		return nil, bad("name", "%q: want letters, digits, '_', '-' or '.' (it appears in topics and metrics)", r.Name)
	}
	if c.filter, err = parseFilter(r.Filter); err != nil {
		return nil, bad("filter", "%v", err)
	}
	c.prefix, _, _ = strings.Cut(r.Filter, "+")
	if p, _, hash := strings.Cut(c.prefix, "#"); hash {
		c.prefix = strings.TrimSuffix(p, "/") // "a/#" also matches "a"
	}
	if r.Field != "" {
		c.path = strings.Split(r.Field, ".")
		for _, k := range c.path {
			if k == "" {
				return nil, bad("field", "%q has an empty key; want \"\" (whole payload) or a dotted JSON path such as data.temp", r.Field)
			}
		}
	}
	if err = c.compileTemplates(r); err != nil {
		return nil, err
	}
	if err = c.compileFunctions(r.Functions); err != nil {
		return nil, err
	}
	if r.Buckets < 2 || r.Buckets > maxBuckets {
		return nil, bad("buckets", "%d: want 2 to %d buckets per time window", r.Buckets, maxBuckets)
	}
	if err = c.compileWindows(r.Windows, r.Buckets); err != nil {
		return nil, err
	}
	if err = c.compileEmit(r.Emit); err != nil {
		return nil, err
	}
	if r.MaxSeries < 0 {
		return nil, bad("max_series", "%d: want a positive number of series (default %d)", r.MaxSeries, DefaultMaxSeries)
	}
	if err = c.compileExpiry(r.IdleExpiry); err != nil {
		return nil, err
	}
	if m := c.maxMemory(); m > MaxRuleMemory {
		return nil, bad("max_series", "%d series of this rule may take %d MiB, more than %d MiB; lower max_series or buckets, or shorten the count windows",
			r.MaxSeries, m>>20, MaxRuleMemory>>20)
	}
	return c, nil
}

// seriesOverhead is roughly what a series costs besides its windows: the
// series struct, its map entry and key.
const seriesOverhead = 200

// maxMemory estimates the heap the rule takes with MaxSeries full series.
func (c *rule) maxMemory() int64 {
	per := int64(seriesOverhead + 8*c.slabSize)
	for _, n := range c.counts {
		per += 16*int64(n) + 80
	}
	return per * int64(c.maxSeries)
}

func (c *rule) compileTemplates(r Rule) error {
	var err error
	if c.series, err = parseTemplate(r.Series, phTopic, phName); err != nil {
		return bad("series", "%v", err)
	}
	c.byTopic = c.series.only(phTopic)
	if strings.ContainsAny(r.Series, "+#\x00") {
		return bad("series", "%q: a series key may not contain '+', '#' or NUL (it appears in topics)", r.Series)
	}
	if c.output, err = parseTemplate(r.Output, phName, phSeries, phTopic, phWindow); err != nil {
		return bad("output", "%v", err)
	}
	if strings.ContainsAny(c.output.literals(), "+#\x00") || strings.HasPrefix(r.Output, "$") {
		return bad("output", "%q: an output topic may not contain '+', '#' or NUL nor start with '$'", r.Output)
	}
	return nil
}

func (c *rule) compileFunctions(names []string) error {
	seen := map[fn]bool{}
	for i, name := range names {
		f, ok := fn(0), false
		for j, n := range fnNames {
			if n == strings.TrimSpace(name) {
				f, ok = fn(j), true
			}
		}
		if !ok {
			return bad(fmt.Sprintf("functions[%d]", i), "%q: want one of %s", name, strings.Join(fnNames[:], " "))
		}
		if seen[f] {
			return bad(fmt.Sprintf("functions[%d]", i), "%q is listed twice", name)
		}
		seen[f] = true
		c.fns = append(c.fns, f)
	}
	c.layout = newLayout(c.fns)
	return nil
}

func (c *rule) compileWindows(windows []string, buckets int) error {
	if len(windows) == 0 {
		return bad("windows", "empty: want at least one window such as 5m or \"last 20\"")
	}
	seen := map[string]bool{}
	for i, s := range windows {
		path := fmt.Sprintf("windows[%d]", i)
		label, span, count, err := parseWindow(s)
		if err != nil {
			return bad(path, "%v", err)
		}
		if seen[label] {
			return bad(path, "%q: window %s is listed twice", s, label)
		}
		seen[label] = true
		w := winRef{label: label, span: span, count: count}
		if span > 0 {
			w.i = len(c.tspecs)
			c.tspecs = append(c.tspecs, newTimeSpec(span, buckets, c.layout))
			c.longest = max(c.longest, span)
		} else {
			w.i = len(c.counts)
			c.counts = append(c.counts, count)
		}
		c.windows = append(c.windows, w)
	}
	c.slabSize = len(c.tspecs) // the heads, then the rings
	for i := range c.tspecs {
		c.tspecs[i].headAt, c.tspecs[i].off = i, c.slabSize
		c.slabSize += c.tspecs[i].ringSize()
	}
	return nil
}

func (c *rule) compileEmit(s string) error {
	if s == EmitOnUpdate {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return bad("emit", "%q: want %q or a duration of at least 1s such as 10s or 1m", s, EmitOnUpdate)
	}
	c.emitEvery = int64(d)
	return nil
}

func (c *rule) compileExpiry(d time.Duration) error {
	switch {
	case d < 0:
		return bad("idle_expiry", "%v: want a positive duration", d)
	case d == 0:
		d = max(DefaultIdleExpiry, c.longest)
	case d < c.longest:
		return bad("idle_expiry", "%v is shorter than the longest window %v", d, c.longest)
	}
	c.idle = int64(d)
	c.cfg.IdleExpiry = d
	return nil
}

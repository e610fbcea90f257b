package rollup

import (
	"fmt"
	"strings"
)

// placeholder is a {name} in a series or output template.
type placeholder uint8

const (
	phNone   placeholder = iota // a literal part
	phName                      // {name}: the rule name
	phTopic                     // {topic}: the topic of the series' latest sample
	phSeries                    // {series}: the series key
	phWindow                    // {window}: the window label, e.g. 5m or last20
)

var placeholderNames = map[string]placeholder{
	"{name}": phName, "{topic}": phTopic, "{series}": phSeries, "{window}": phWindow,
}

// tplPart is a literal (ph == phNone) or a placeholder.
type tplPart struct {
	lit string
	ph  placeholder
}

// template is a parsed series or output template.
type template []tplPart

// tplVars are the values placeholders expand to.
type tplVars struct {
	name, topic, series, window string
}

// parseTemplate splits s into literals and the placeholders in allowed.
func parseTemplate(s string, allowed ...placeholder) (template, error) {
	var t template
	for s != "" {
		open := strings.IndexAny(s, "{}")
		if open < 0 {
			t = append(t, tplPart{lit: s})
			break
		}
		if open > 0 {
			t = append(t, tplPart{lit: s[:open]})
		}
		end := strings.IndexByte(s[open:], '}')
		if s[open] == '}' || end < 0 {
			return nil, fmt.Errorf("unbalanced braces in %q", s)
		}
		word := s[open : open+end+1]
		ph, ok := placeholderNames[word]
		if !ok || !containsPh(allowed, ph) {
			return nil, fmt.Errorf("unknown placeholder %s; allowed: %s", word, phList(allowed))
		}
		t = append(t, tplPart{ph: ph})
		s = s[open+end+1:]
	}
	return t, nil
}

func containsPh(list []placeholder, ph placeholder) bool {
	for _, p := range list {
		if p == ph {
			return true
		}
	}
	return false
}

func phList(list []placeholder) string {
	names := make([]string, 0, len(list))
	for _, p := range list {
		for w, q := range placeholderNames {
			if p == q {
				names = append(names, w)
			}
		}
	}
	return strings.Join(names, " ")
}

// literals returns the literal text of the template, placeholders dropped.
func (t template) literals() string {
	var b strings.Builder
	for _, p := range t {
		b.WriteString(p.lit)
	}
	return b.String()
}

// only reports whether the template is exactly the one placeholder ph.
func (t template) only(ph placeholder) bool { return len(t) == 1 && t[0].ph == ph }

// expand appends the template with v substituted to b.
func (t template) expand(b []byte, v *tplVars) []byte {
	for _, p := range t {
		switch p.ph {
		case phNone:
			b = append(b, p.lit...)
		case phName:
			b = append(b, v.name...)
		case phTopic:
			b = append(b, v.topic...)
		case phSeries:
			b = append(b, v.series...)
		case phWindow:
			b = append(b, v.window...)
		}
	}
	return b
}

// glob is a pattern of literal chunks with a wildcard (any text, '/'
// included) between consecutive chunks; a single chunk matches exactly.
type glob []string

// outputGlob turns an output template into the glob of every topic it can
// produce for one window: {name} and {window} are fixed, {series} and
// {topic} may be anything.
func outputGlob(t template, name, window string) glob {
	g := glob{""}
	for _, p := range t {
		switch p.ph {
		case phNone:
			g[len(g)-1] += p.lit
		case phName:
			g[len(g)-1] += name
		case phWindow:
			g[len(g)-1] += window
		default:
			if len(g) == 1 || g[len(g)-1] != "" {
				g = append(g, "")
			}
		}
	}
	return g
}

// match reports whether s is a string the glob describes.
func (g glob) match(s string) bool {
	if len(g) == 1 {
		return s == g[0]
	}
	if !strings.HasPrefix(s, g[0]) {
		return false
	}
	s = s[len(g[0]):]
	for _, c := range g[1 : len(g)-1] {
		i := strings.Index(s, c)
		if i < 0 {
			return false
		}
		s = s[i+len(c):]
	}
	return strings.HasSuffix(s, g[len(g)-1])
}

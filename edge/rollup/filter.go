package rollup

import (
	"fmt"
	"strings"
)

// filter is a compiled MQTT topic filter: its levels, with "+" and "#" kept
// as literal levels.
type filter []string

// parseFilter checks an MQTT topic filter (MQTT 5 section 4.7) and splits it
// into levels. Shared subscriptions ($share/...) are not topic filters here.
func parseFilter(s string) (filter, error) {
	switch {
	case s == "":
		return nil, fmt.Errorf("is empty; want an MQTT topic filter such as sensors/+/temp or sensors/#")
	case len(s) > 65535:
		return nil, fmt.Errorf("is longer than 65535 bytes")
	case strings.ContainsRune(s, 0):
		return nil, fmt.Errorf("%q contains a NUL character", s)
	case strings.HasPrefix(s, "$share/"):
		return nil, fmt.Errorf("%q is a shared subscription; want a plain topic filter", s)
	}
	levels := strings.Split(s, "/")
	for i, lv := range levels {
		if lv == "+" || (lv == "#" && i == len(levels)-1) {
			continue
		}
		if strings.ContainsAny(lv, "+#") {
			return nil, fmt.Errorf("%q: '+' must fill a whole level and '#' must be the whole last level", s)
		}
	}
	return filter(levels), nil
}

// match reports whether topic (a topic name, without wildcards) matches the
// filter. As MQTT requires, a filter starting with a wildcard does not match
// a topic starting with '$', and "a/#" also matches "a".
func (f filter) match(topic string) bool {
	if topic != "" && topic[0] == '$' && (f[0] == "+" || f[0] == "#") {
		return false
	}
	rest := topic
	for i, lv := range f {
		if lv == "#" {
			return true
		}
		level, tail, more := strings.Cut(rest, "/")
		if lv != "+" && lv != level {
			return false
		}
		if !more {
			return i == len(f)-1 || (i == len(f)-2 && f[i+1] == "#")
		}
		rest = tail
	}
	return false
}

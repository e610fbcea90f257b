package cluster

import "strings"

// Match reports whether the MQTT topic name matches filter (MQTT 3.1.1 §4.7):
// "+" matches exactly one level, "#" as the last level matches the parent and
// any number of levels below, and a filter starting with a wildcard never
// matches a topic starting with "$". "$share/<group>/<filter>" matches as
// <filter>. Invalid filters ("#" not last, wildcards inside a level, empty
// filter) match nothing. Match never panics, whatever the input.
func Match(filter, topic string) bool {
	filter = unshare(filter)
	if filter == "" || topic == "" {
		return false
	}
	if strings.HasPrefix(topic, "$") && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		t, trest, tmore := strings.Cut(topic, "/")
		switch {
		case f == "#":
			return !fmore
		case f == "+":
		case f != t || strings.ContainsAny(f, "+#"):
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// topic ended: "a/#" matches "a".
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// unshare strips a "$share/<group>/" prefix; an incomplete one yields "".
func unshare(filter string) string {
	rest, ok := strings.CutPrefix(filter, "$share/")
	if !ok {
		return filter
	}
	_, f, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return f
}

// matchAny reports whether any filter matches topic.
func matchAny(filters []string, topic string) bool {
	for _, f := range filters {
		if Match(f, topic) {
			return true
		}
	}
	return false
}

package auth

import "strings"

// covers reports whether every topic that filter f can match is also matched
// by pattern p. For a topic name f (no wildcards) that is plain MQTT matching.
// Both are assumed valid: wildcards fill whole levels and # comes last.
// A first level starting with $ is matched only literally [MQTT-4.7.2-1].
func covers(p, f string) bool {
	if strings.HasPrefix(f, "$") && (strings.HasPrefix(p, "+") || strings.HasPrefix(p, "#")) {
		return false
	}
	for {
		pl, prest, pmore := cut(p)
		fl, frest, fmore := cut(f)
		switch {
		case pl == "#":
			return true
		case fl == "#":
			return false // only # covers #
		case pl == "+":
			// any single level, including a + in the filter
		case pl != fl:
			return false
		}
		switch {
		case !pmore && !fmore:
			return true
		case !fmore:
			return prest == "#" // "a/#" also matches "a"
		case !pmore:
			return false
		}
		p, f = prest, frest
	}
}

// cut splits the first level off s.
func cut(s string) (level, rest string, more bool) {
	return strings.Cut(s, "/")
}

// validPattern reports whether s is a usable topic filter: not empty,
// wildcards fill whole levels, # only last.
func validPattern(s string) bool {
	if s == "" {
		return false
	}
	for {
		l, rest, more := cut(s)
		if strings.ContainsAny(l, "+#") && len(l) != 1 {
			return false
		}
		if l == "#" && more {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// stripShare returns the filter of a shared subscription $share/group/F.
func stripShare(f string) string {
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		if _, filter, ok := strings.Cut(rest, "/"); ok {
			return filter
		}
	}
	return f
}

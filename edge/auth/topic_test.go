package auth

import (
	"strings"
	"testing"
)

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		p, f string
		want bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "a/#", true},
		{"a/#", "a/+/c", true},
		{"a/#", "#", false},
		{"a/#", "+/#", false},
		{"a/b/#", "a/+/#", false},
		{"+/#", "a/b", true},
		{"#", "a", true},
		{"#", "#", true},
		{"#", "$SYS/broker/load", false},
		{"+/broker/load", "$SYS/broker/load", false},
		{"$SYS/#", "$SYS/broker/load", true},
		{"$SYS/#", "$SYS/#", true},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
		{"a", "a/b", false},
		{"a/b", "a", false},
		{"devices/dev1/#", "devices/dev10/x", false},
	} {
		if got := covers(c.p, c.f); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.p, c.f, got, c.want)
		}
	}
}

func TestValidPattern(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "#": true, "+": true, "a/+/b": true, "a/#": true, "/": true, "$SYS/#": true,
		"": false, "a/#/b": false, "a+": false, "a/b#": false, "#/a": false,
	} {
		if got := validPattern(s); got != want {
			t.Errorf("validPattern(%q) = %v, want %v", s, got, want)
		}
	}
}

// matchRef is a plain reference matcher of a topic name against a filter.
func matchRef(p, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(p, "+") || strings.HasPrefix(p, "#")) {
		return false
	}
	pl, tl := strings.Split(p, "/"), strings.Split(topic, "/")
	for i, l := range pl {
		if l == "#" {
			return true
		}
		if i >= len(tl) || (l != "+" && l != tl[i]) {
			return false
		}
	}
	return len(pl) == len(tl)
}

// FuzzCovers checks covers against the reference matcher for topic names,
// that a valid pattern covers itself, and that a pattern covering a filter
// matches every topic the filter matches (tried on the filter with its
// wildcards replaced by a level name).
func FuzzCovers(f *testing.F) {
	for _, s := range [][2]string{{"a/+", "a/b"}, {"a/#", "a"}, {"#", "$SYS/x"}, {"devices/+/#", "devices/x/y"}, {"a//b", "a/+/b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if !validPattern(p) || !validPattern(s) {
			return
		}
		if !covers(p, p) {
			t.Fatalf("%q does not cover itself", p)
		}
		if !strings.ContainsAny(s, "+#") && covers(p, s) != matchRef(p, s) {
			t.Fatalf("covers(%q, %q) = %v, reference says %v", p, s, covers(p, s), matchRef(p, s))
		}
		if covers(p, s) {
			topic := strings.NewReplacer("+", "x", "#", "y/z").Replace(s)
			if !strings.HasPrefix(s, "$") && strings.HasPrefix(topic, "$") {
				return
			}
			if !matchRef(p, topic) {
				t.Fatalf("covers(%q, %q) but %q does not match %q", p, s, p, topic)
			}
		}
	})
}

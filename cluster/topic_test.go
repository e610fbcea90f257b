package cluster

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"+", "", false},
		{"+", "a", true},
		{"+/+", "a/", true},
		{"a/b/", "a/b", false},
		{"a", "a/b", false},
		{"a/#/b", "a/x/b", false},
		{"a/b#", "a/b#", false},
		{"a+", "a+", false},
		{"$share/g/a/+", "a/b", true},
		{"$share/g", "g", false},
		{"", "a", false},
	}
	for _, tc := range tests {
		t.Run(tc.filter+" "+tc.topic, func(t *testing.T) {
			if got := Match(tc.filter, tc.topic); got != tc.want {
				t.Fatalf("Match(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
		})
	}
}

// FuzzMatch checks the invariants in Match's doc: no panic; a literal filter
// (no wildcards) matches exactly the equal topic; "#" matches every topic not
// starting with "$"; a topic is matched by the filter with any level replaced by "+".
func FuzzMatch(f *testing.F) {
	f.Add("a/+/c", "a/b/c")
	f.Add("#", "x")
	f.Add("$share/g/#", "$x")
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := Match(filter, topic)
		if filter != "" && !strings.ContainsAny(filter, "+#") && !strings.HasPrefix(filter, "$share/") {
			if got != (filter == topic) {
				t.Fatalf("literal %q vs %q: %v", filter, topic, got)
			}
		}
		if topic != "" && !strings.ContainsAny(topic, "+#") {
			if Match("#", topic) == strings.HasPrefix(topic, "$") {
				t.Fatalf("# vs %q", topic)
			}
			levels := strings.Split(topic, "/")
			for i := range levels {
				if i == 0 && strings.HasPrefix(topic, "$") {
					continue
				}
				saved := levels[i]
				levels[i] = "+"
				if !Match(strings.Join(levels, "/"), topic) {
					t.Fatalf("%q does not match %q", strings.Join(levels, "/"), topic)
				}
				levels[i] = saved
			}
		}
	})
}

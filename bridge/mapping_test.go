package bridge

import (
	"errors"
	"strings"
	"testing"
)

func TestMatchFilter(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/b", "$SYS/b", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+/c", "a//c", true},
		{"+", "", true},
		{"a/b", "a/b", true},
		{"a/b", "a/b/", false},
		{"a/b/", "a/b/", true},
		{"s/+/t", "s/1/t", true},
		{"s/+/t", "s/1/u", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter+"|"+tt.topic, func(t *testing.T) {
			if got := MatchFilter(tt.filter, tt.topic); got != tt.want {
				t.Fatalf("MatchFilter(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestMappingMap(t *testing.T) {
	m, err := NewMapping([]Rule{
		{Filter: "cmd/#", Topic: "commands", QoS: ptr[byte](1)},
		{Filter: "site/+/temp", StripPrefix: "site/", AddPrefix: "cloud/gw1/", Retain: ptr(true)},
		{Filter: "strip/#", StripPrefix: "strip/x"},
		{Filter: "raw/#"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic      string
		qos        byte
		wantDest   string
		wantQoS    byte
		wantRetain bool
		wantMatch  bool
		wantErr    error
	}{
		{"cmd/valve/1", 0, "commands", 1, false, true, nil},
		{"site/a/temp", 2, "cloud/gw1/a/temp", 2, true, true, nil},
		{"raw/x", 0, "raw/x", 0, false, true, nil},
		{"other", 1, "", 0, false, false, nil},
		{"strip/x", 1, "", 1, false, true, ErrInvalidTopic}, // stripping leaves nothing
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			dest, qos, retain, ok, err := m.Map(tt.topic, tt.qos, false)
			if ok != tt.wantMatch || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Map(%q) matched=%v err=%v, want %v %v", tt.topic, ok, err, tt.wantMatch, tt.wantErr)
			}
			if err == nil && (dest != tt.wantDest || qos != tt.wantQoS || retain != tt.wantRetain) {
				t.Fatalf("Map(%q) = %q q%d r%v, want %q q%d r%v", tt.topic, dest, qos, retain, tt.wantDest, tt.wantQoS, tt.wantRetain)
			}
		})
	}
}

func TestNewMappingRejects(t *testing.T) {
	for _, r := range []Rule{
		{Filter: ""}, {Filter: "a/#/b"}, {Filter: "a+/b"}, {Filter: "a", Topic: "x/+"}, {Filter: "a", QoS: ptr[byte](3)},
	} {
		if _, err := NewMapping([]Rule{r}); err == nil {
			t.Errorf("NewMapping(%+v) accepted an invalid rule", r)
		}
	}
}

func TestParseRecordID(t *testing.T) {
	o, off, err := ParseRecordID(RecordID("node:a", 42))
	if err != nil || o != "node:a" || off != 42 {
		t.Fatalf("round trip: %q %d %v", o, off, err)
	}
	for _, bad := range []string{"", "nocolon", "n:", "n:-1", "n:x"} {
		if _, _, err := ParseRecordID(bad); err == nil {
			t.Errorf("ParseRecordID(%q) accepted", bad)
		}
	}
}

// FuzzMapping checks the Map invariants of its doc comment, and that
// MatchFilter agrees with a level-by-level reference.
func FuzzMapping(f *testing.F) {
	f.Add("a/+/c", "a/b/c", "a/", "x/", byte(1))
	f.Add("#", "$SYS/x", "", "", byte(0))
	f.Add("a/#", "a", "a", "", byte(2))
	f.Fuzz(func(t *testing.T, filter, topic, strip, add string, qos byte) {
		m, err := NewMapping([]Rule{{Filter: filter, StripPrefix: strip, AddPrefix: add}})
		if err != nil {
			return
		}
		dest, q, _, ok, err := m.Map(topic, qos, false)
		if ok != refMatch(filter, topic) {
			t.Fatalf("match(%q, %q) = %v, reference disagrees", filter, topic, ok)
		}
		if ok && err == nil && (dest == "" || strings.ContainsAny(dest, "+#\x00") || q > 2) {
			t.Fatalf("Map(%q) = %q q%d: invalid destination", topic, dest, q)
		}
		if !ok && (dest != "" || err != nil) {
			t.Fatalf("unmatched Map(%q) returned %q %v", topic, dest, err)
		}
	})
}

func refMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fl {
		if f == "#" {
			return true
		}
		if i >= len(tl) || (f != "+" && f != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}

package bridge

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule selects records by MQTT topic filter and maps them to a destination.
type Rule struct {
	// Filter is an MQTT topic filter ("sensors/+/temp", "#"). Wildcards do
	// not match topics starting with '$' at the first level.
	Filter string `yaml:"filter"`
	// Topic is a fixed destination topic (a Kafka topic, or a remote MQTT
	// topic). Empty means the record's topic with StripPrefix removed and
	// AddPrefix prepended (MQTT bridges only).
	Topic string `yaml:"topic"`
	// StripPrefix is removed from the start of the record's topic when
	// present (Topic empty only).
	StripPrefix string `yaml:"strip_prefix"`
	// AddPrefix is prepended after StripPrefix (Topic empty only).
	AddPrefix string `yaml:"add_prefix"`
	// QoS overrides the record's QoS when set (0, 1 or 2).
	QoS *byte `yaml:"qos"`
	// Retain overrides the record's retain flag when set.
	Retain *bool `yaml:"retain"`
}

// Mapping is the compiled rule list of one bridge. The first rule whose
// filter matches a record's topic decides; a record no rule matches is
// skipped. A Mapping is immutable and safe for concurrent use.
type Mapping struct {
	rules []Rule
}

// NewMapping validates and compiles rules.
func NewMapping(rules []Rule) (*Mapping, error) {
	for i, r := range rules {
		if err := ValidFilter(r.Filter); err != nil {
			return nil, fmt.Errorf("rules[%d].filter %q: %w", i, r.Filter, err)
		}
		if r.Topic != "" && !validTopicName(r.Topic) {
			return nil, fmt.Errorf("rules[%d].topic %q: not a topic name (no wildcards, no NUL)", i, r.Topic)
		}
		if r.QoS != nil && *r.QoS > 2 {
			return nil, fmt.Errorf("rules[%d].qos %d: allowed 0, 1, 2", i, *r.QoS)
		}
	}
	return &Mapping{rules: append([]Rule(nil), rules...)}, nil
}

// Map returns the destination of a record with the given topic, QoS and
// retain flag. matched is false when no rule selects the topic. err is
// ErrInvalidTopic (wrapped) when a rule matched but the destination it
// produces is not a valid topic name.
//
// Invariants (fuzzed): Map never panics; when matched and err is nil, dest is
// a non-empty valid topic name without wildcards or NUL and qos <= 2.
func (m *Mapping) Map(topic string, qos byte, retain bool) (dest string, outQoS byte, outRetain bool, matched bool, err error) {
	for i := range m.rules {
		r := &m.rules[i]
		if !MatchFilter(r.Filter, topic) {
			continue
		}
		dest = r.Topic
		if dest == "" {
			dest = r.AddPrefix + strings.TrimPrefix(topic, r.StripPrefix)
		}
		outQoS, outRetain = min(qos, 2), retain
		if r.QoS != nil {
			outQoS = *r.QoS
		}
		if r.Retain != nil {
			outRetain = *r.Retain
		}
		if !validTopicName(dest) {
			return dest, outQoS, outRetain, true, fmt.Errorf("%w: %q (rule %d)", ErrInvalidTopic, dest, i)
		}
		return dest, outQoS, outRetain, true, nil
	}
	return "", 0, false, false, nil
}

// MatchFilter reports whether the MQTT topic name matches the topic filter.
func MatchFilter(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" matches "a" too: the parent level.
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// ValidFilter checks an MQTT topic filter: non-empty, no NUL, '#' only as
// the whole last level, '+' only as a whole level.
func ValidFilter(filter string) error {
	if filter == "" {
		return fmt.Errorf("empty filter")
	}
	if strings.ContainsRune(filter, 0) {
		return fmt.Errorf("NUL in filter")
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("'#' must be the whole last level")
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("'+' must be a whole level")
		}
	}
	return nil
}

func validTopicName(t string) bool {
	return t != "" && len(t) <= 65535 && !strings.ContainsAny(t, "+#\x00")
}

// RecordID formats a record id as carried upstream: "<origin>:<offset>".
func RecordID(origin string, offset uint64) string {
	return origin + ":" + strconv.FormatUint(offset, 10)
}

// ParseRecordID splits "<origin>:<offset>" (the origin may contain ':').
func ParseRecordID(id string) (origin string, offset uint64, err error) {
	i := strings.LastIndexByte(id, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("record id %q: missing ':'", id)
	}
	offset, err = strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("record id %q: %w", id, err)
	}
	return id[:i], offset, nil
}

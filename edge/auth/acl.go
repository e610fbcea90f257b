package auth

import (
	"fmt"
	"strings"
)

// ACL is a compiled rule set. It is immutable and safe for concurrent use.
type ACL struct {
	rules []Rule
	// memberOf maps a user to the groups it belongs to.
	memberOf map[string]map[string]bool
}

// NewACL validates and compiles rules over groups (group name to members).
func NewACL(rules []Rule, groups map[string][]string) (*ACL, error) {
	if err := (Options{Groups: groups, ACL: rules}).Validate(); err != nil {
		return nil, err
	}
	a := &ACL{rules: append([]Rule(nil), rules...), memberOf: map[string]map[string]bool{}}
	for g, members := range groups {
		for _, m := range members {
			if a.memberOf[m] == nil {
				a.memberOf[m] = map[string]bool{}
			}
			a.memberOf[m][g] = true
		}
	}
	return a, nil
}

// Empty reports whether the ACL has no rules (everything is allowed).
func (a *ACL) Empty() bool { return a == nil || len(a.rules) == 0 }

// For returns what a client may do: the rules that apply to user (""
// for an anonymous client), with %u and %c replaced.
func (a *ACL) For(user, clientID string) *Access {
	if a.Empty() {
		return &Access{all: true}
	}
	acc := &Access{}
	for _, r := range a.rules {
		if !a.applies(r, user) {
			continue
		}
		topic, ok := substitute(r.Topic, user, clientID)
		if !ok {
			continue
		}
		switch r.Access {
		case AccessPublish:
			acc.pub = append(acc.pub, topic)
		case AccessSubscribe:
			acc.sub = append(acc.sub, topic)
		case AccessPubSub:
			acc.pub = append(acc.pub, topic)
			acc.sub = append(acc.sub, topic)
		case AccessDeny:
			acc.deny = append(acc.deny, topic)
		}
	}
	return acc
}

func (a *ACL) applies(r Rule, user string) bool {
	switch {
	case r.User != "":
		return user == r.User
	case r.Group != "":
		return user != "" && a.memberOf[user][r.Group]
	}
	return true
}

// substitute replaces %u and %c levels in topic; ok is false when a value
// is empty or would act as a wildcard or a level separator.
func substitute(topic, user, clientID string) (string, bool) {
	if !strings.Contains(topic, "%") {
		return topic, true
	}
	levels := strings.Split(topic, "/")
	for i, l := range levels {
		var v string
		switch l {
		case "%u":
			v = user
		case "%c":
			v = clientID
		default:
			continue
		}
		if v == "" || strings.ContainsAny(v, "+#/") {
			return "", false
		}
		levels[i] = v
	}
	return strings.Join(levels, "/"), true
}

// Access is what one client may do. The zero value allows nothing.
type Access struct {
	all            bool
	pub, sub, deny []string
}

// CanPublish reports whether the client may publish to topic.
func (a *Access) CanPublish(topic string) bool {
	if a == nil {
		return false
	}
	if a.all {
		return true
	}
	return !anyCovers(a.deny, topic) && anyCovers(a.pub, topic)
}

// CanSubscribe reports whether the client may subscribe to filter, or
// receive a message on topic (a filter without wildcards).
func (a *Access) CanSubscribe(filter string) bool {
	if a == nil {
		return false
	}
	if a.all {
		return true
	}
	f := stripShare(filter)
	return !anyCovers(a.deny, f) && anyCovers(a.sub, f)
}

// String lists the client's effective rules, for debugging.
func (a *Access) String() string {
	if a.all {
		return "all"
	}
	return fmt.Sprintf("publish %q subscribe %q deny %q", a.pub, a.sub, a.deny)
}

func anyCovers(patterns []string, f string) bool {
	for _, p := range patterns {
		if covers(p, f) {
			return true
		}
	}
	return false
}

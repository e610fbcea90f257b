package auth

import (
	"fmt"
	"strings"
)

// Access values of a Rule.
const (
	AccessPublish   = "publish"
	AccessSubscribe = "subscribe"
	AccessPubSub    = "pubsub"
	AccessDeny      = "deny"
)

// Rule is one ACL entry.
type Rule struct {
	// User limits the rule to one user; Group to the members of a group.
	// With neither, the rule applies to every client (anonymous ones too).
	User  string `yaml:"user"`
	Group string `yaml:"group"`
	// Topic is a topic pattern: MQTT wildcards + and #, and %u or %c as a
	// whole level for the user name or client id.
	Topic string `yaml:"topic"`
	// Access is publish, subscribe, pubsub (both) or deny (neither; wins
	// over any allow).
	Access string `yaml:"access"`
}

// Options configure authentication and authorisation.
type Options struct {
	// UsersFile is the path of the users file ("user:bcrypt-hash" lines,
	// written by `outpost passwd`). Empty: no password logins.
	UsersFile string `yaml:"users_file"`
	// Groups maps a group name to its member user names (certificate names
	// included).
	Groups map[string][]string `yaml:"groups"`
	// ACL are the rules. None: every authenticated client may publish and
	// subscribe to everything. Any: default deny.
	ACL []Rule `yaml:"acl"`
}

// DefaultOptions returns no users and no rules: only anonymous clients on
// listeners that allow them, with full access (a loopback development node).
func DefaultOptions() Options { return Options{} }

// Validate checks every rule; errors name acl[i] and the field.
func (o Options) Validate() error {
	for g, members := range o.Groups {
		for _, m := range members {
			if err := checkUser(m); err != nil {
				return fmt.Errorf("groups.%s: %w", g, err)
			}
		}
	}
	for i, r := range o.ACL {
		if err := r.validate(o.Groups); err != nil {
			return fmt.Errorf("acl[%d].%w", i, err)
		}
	}
	return nil
}

func (r Rule) validate(groups map[string][]string) error {
	switch r.Access {
	case AccessPublish, AccessSubscribe, AccessPubSub, AccessDeny:
	default:
		return fmt.Errorf("access: %q is not one of publish, subscribe, pubsub, deny: %w", r.Access, ErrBadRule)
	}
	if r.User != "" && r.Group != "" {
		return fmt.Errorf("user: set user or group, not both: %w", ErrBadRule)
	}
	if _, ok := groups[r.Group]; r.Group != "" && !ok {
		return fmt.Errorf("group: %q is not defined under groups: %w", r.Group, ErrBadRule)
	}
	if !validPattern(r.Topic) {
		return fmt.Errorf("topic: %q is not a topic filter (wildcards + and # fill a whole level, # comes last): %w", r.Topic, ErrBadRule)
	}
	for l := range strings.SplitSeq(r.Topic, "/") {
		if strings.Contains(l, "%") && l != "%u" && l != "%c" {
			return fmt.Errorf("topic: %q: %%u and %%c must fill a whole level: %w", r.Topic, ErrBadRule)
		}
	}
	return nil
}

// checkUser reports whether name can be a user in the users file.
func checkUser(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadUser)
	case len(name) > 65535:
		return fmt.Errorf("%w: longer than 65535 bytes", ErrBadUser)
	case strings.ContainsAny(name, ":\n\r\x00"):
		return fmt.Errorf("%w: %q contains ':', a line break or NUL", ErrBadUser, name)
	case strings.TrimSpace(name) != name || strings.HasPrefix(name, "#"):
		return fmt.Errorf("%w: %q starts or ends with a space or starts with '#'", ErrBadUser, name)
	}
	return nil
}

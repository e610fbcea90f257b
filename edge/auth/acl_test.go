package auth

import (
	"errors"
	"testing"
)

func TestACLDecisions(t *testing.T) {
	groups := map[string][]string{"ops": {"alice"}, "sensors": {"dev1", "dev2"}}
	rules := []Rule{
		{Group: "sensors", Topic: "devices/%c/#", Access: AccessPubSub},
		{Group: "sensors", Topic: "commands/%u/+", Access: AccessSubscribe},
		{Group: "sensors", Topic: "devices/%c/secret", Access: AccessDeny},
		{User: "alice", Topic: "#", Access: AccessSubscribe},
		{User: "alice", Topic: "$SYS/#", Access: AccessSubscribe},
		{User: "alice", Topic: "commands/#", Access: AccessPublish},
		{Group: "ops", Topic: "devices/+/secret", Access: AccessDeny},
		{Topic: "public/#", Access: AccessSubscribe},
	}
	acl, err := NewACL(rules, groups)
	if err != nil {
		t.Fatal(err)
	}
	type q struct {
		user, client, op, topic string
		want                    bool
	}
	for _, c := range []q{
		{"dev1", "dev1", "pub", "devices/dev1/temp", true},
		{"dev1", "dev1", "pub", "devices/dev2/temp", false},
		{"dev1", "dev1", "pub", "devices/dev1/secret", false},
		{"dev1", "dev1", "pub", "commands/dev1/reboot", false},
		{"dev1", "dev1", "sub", "devices/dev1/#", true},
		{"dev1", "dev1", "sub", "devices/dev1/secret", false},
		{"dev1", "dev1", "sub", "commands/dev1/reboot", true},
		{"dev1", "dev1", "sub", "commands/dev1/#", false},
		// wildcard escapes
		{"dev1", "dev1", "sub", "#", false},
		{"dev1", "dev1", "sub", "+/#", false},
		{"dev1", "dev1", "sub", "devices/+/temp", false},
		{"dev1", "dev1", "sub", "devices/#", false},
		{"dev1", "dev1", "sub", "$share/g/devices/+/temp", false},
		{"dev1", "dev1", "sub", "$share/g/devices/dev1/temp", true},
		{"dev1", "dev1", "sub", "$SYS/#", false},
		// a client id or user name cannot widen a %c or %u rule
		{"dev1", "+", "pub", "devices/x/temp", false},
		{"dev1", "#", "sub", "devices/x/temp", false},
		{"dev1", "a/b", "pub", "devices/a/b/temp", false},
		// client id confinement, not user: dev2 with client id dev1 gets dev1's subtree (documented)
		{"dev2", "dev1", "pub", "devices/dev1/temp", true},
		{"alice", "ui", "sub", "#", true},
		{"alice", "ui", "sub", "devices/dev1/temp", true},
		{"alice", "ui", "sub", "devices/dev1/secret", false},
		{"alice", "ui", "sub", "$SYS/broker/load", true},
		{"alice", "ui", "pub", "devices/dev1/temp", false},
		{"alice", "ui", "pub", "commands/dev1/reboot", true},
		{"", "anon", "sub", "public/news", true},
		{"", "anon", "sub", "#", false},
		{"", "anon", "pub", "public/news", false},
		{"mallory", "m", "sub", "devices/dev1/temp", false},
	} {
		acc := acl.For(c.user, c.client)
		got := acc.CanSubscribe(c.topic)
		if c.op == "pub" {
			got = acc.CanPublish(c.topic)
		}
		if got != c.want {
			t.Errorf("user %q client %q %s %q = %v, want %v (rules: %v)", c.user, c.client, c.op, c.topic, got, c.want, acc)
		}
	}
}

func TestEmptyACLAllowsAll(t *testing.T) {
	acc := (&ACL{}).For("", "x")
	if !acc.CanPublish("a/b") || !acc.CanSubscribe("#") || !acc.CanSubscribe("$SYS/#") {
		t.Fatal("an empty ACL denied something")
	}
	if (*Access)(nil).CanPublish("a") || (&Access{}).CanSubscribe("a") {
		t.Fatal("a nil or zero Access allowed something")
	}
}

func TestRuleValidation(t *testing.T) {
	groups := map[string][]string{"g": {"u"}}
	for _, c := range []struct {
		name string
		r    Rule
	}{
		{"access", Rule{Topic: "a", Access: "write"}},
		{"both", Rule{User: "u", Group: "g", Topic: "a", Access: AccessPublish}},
		{"group", Rule{Group: "nope", Topic: "a", Access: AccessPublish}},
		{"hash mid", Rule{Topic: "a/#/b", Access: AccessPublish}},
		{"partial wildcard", Rule{Topic: "a/b+", Access: AccessPublish}},
		{"empty", Rule{Access: AccessPublish}},
		{"partial subst", Rule{Topic: "devices/dev-%c", Access: AccessPublish}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewACL([]Rule{c.r}, groups)
			if !errors.Is(err, ErrBadRule) {
				t.Fatalf("got %v, want ErrBadRule", err)
			}
		})
	}
	if _, err := NewACL(nil, map[string][]string{"g": {"a:b"}}); !errors.Is(err, ErrBadUser) {
		t.Fatalf("bad group member: %v", err)
	}
}

// FuzzACL compiles a rule from fuzzed parts and checks that a client never
// reaches beyond what the substituted rule names: a client id or user name
// holding wildcards never matches a rule through %c or %u.
func FuzzACL(f *testing.F) {
	f.Add("devices/%c/#", "pubsub", "u", "dev1", "devices/dev1/x")
	f.Add("%u/#", "subscribe", "+", "c", "a/b")
	f.Add("$SYS/#", "subscribe", "u", "c", "$SYS/x")
	f.Fuzz(func(t *testing.T, topic, access, user, client, q string) {
		acl, err := NewACL([]Rule{{Topic: topic, Access: access}}, nil)
		if err != nil {
			return
		}
		acc := acl.For(user, client)
		pub, sub := acc.CanPublish(q), acc.CanSubscribe(q)
		if access == AccessDeny && (pub || sub) {
			t.Fatalf("deny-only ACL allowed %q", q)
		}
		sub2, ok := substitute(topic, user, client)
		if !ok && (pub || sub) {
			t.Fatalf("rule %q does not apply to user %q client %q but allowed %q", topic, user, client, q)
		}
		if ok && validPattern(q) && (pub || sub) && !covers(sub2, stripShare(q)) {
			t.Fatalf("allowed %q outside %q", q, sub2)
		}
	})
}

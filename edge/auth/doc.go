// Package auth decides who may connect to the broker and what each client may
// publish and subscribe to. It is pure policy: package edge asks it from its
// one decision point (mochi ORs auth hooks, so there is exactly one hook that
// answers) and it never touches the network.
//
// What it owns:
//
//   - The users file: one "user:bcrypt-hash" line per user, "#" comments and
//     blank lines allowed (the mosquitto_passwd layout with bcrypt hashes).
//     `outpost passwd` edits it through Users.Set, Users.Delete and
//     Users.Marshal. Authenticate runs one bcrypt comparison per attempt,
//     also for unknown users, so a reply's timing does not tell which users
//     exist; a password that verified once is remembered as an HMAC under a
//     per-process random key, so a reconnect storm of known devices costs
//     one bcrypt each, not one per connect.
//   - ACL rules: per user, per group or for everyone, each allowing publish,
//     subscribe or both (pubsub) on a topic pattern, or denying both. A
//     pattern may use the MQTT wildcards + and #, and %u (user name) and %c
//     (client id) in place of a whole level, so "devices/%c/#" confines each
//     device to its own subtree. A rule whose %u or %c would be empty or
//     contain +, # or / does not apply: a client cannot widen a rule with its
//     own name.
//
// Decisions (see Access):
//
//   - No rules at all: every authenticated client may do everything, as a
//     broker without an ACL file does.
//   - Once any rule exists, default deny. A deny rule wins over any allow.
//   - A publish to topic T is allowed when a publish rule's pattern matches T.
//   - A subscription to filter F is allowed when a subscribe rule's pattern
//     covers F: every topic F can match, the pattern matches too. So
//     "devices/dev1/#" does not grant "#", "+/#" or "devices/+/temp". A deny
//     rule refuses a subscription it covers whole; for a partly denied filter
//     the broker checks every delivery's topic again (mochi does), so denied
//     topics are never delivered. Shared subscriptions ($share/group/F) are
//     judged by F.
//   - Topics starting with $ (such as $SYS) are never matched by a pattern
//     starting with a wildcard ([MQTT-4.7.2-1]): a user reads $SYS only
//     through a rule that names it, once rules exist.
//
// Concurrency: Users and ACL are immutable after loading, except through
// Set and Delete (single-threaded tools). Auth and Access are safe for
// concurrent use.
package auth

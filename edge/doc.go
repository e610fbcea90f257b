// Package edge is Outpost's MQTT front end: a mochi-mqtt server, its
// listeners, and the hooks that put the durable log between a client's
// PUBLISH and its acknowledgement.
//
// What it owns: listeners (TCP, TLS, WebSocket), the ingest pipeline (every
// PUBLISH is appended to the log before it is acknowledged and before it is
// fanned out), back-pressure towards publishers when a subscriber cannot keep
// up, persistence of sessions, subscriptions, retained and inflight messages
// in the node's one store, inline publishing for the rest of the node, and
// protection against hostile clients (a panic in one client's goroutine is
// recovered and that client dropped; packet size is bounded by default).
//
// What it never does: import package bridge or cluster, or open a database.
// It reaches the log only through the Log and State interfaces it defines.
//
// Ingest, in order (see DESIGN.md "The one rule"):
//
//  1. mochi decodes a PUBLISH and calls OnPublish on the client's read
//     goroutine, or, for a client that publishes now and then, on a mochi
//     handler goroutine while the read goroutine waits (our copy of mochi,
//     third_party/mochi-mqtt-server/OUTPOST.md): a client's packets are
//     handled one at a time either way. The hook copies the packet into the
//     client's pending queue (bounded; a full queue blocks the handling, so
//     the client's socket is not read: TCP back-pressure) and returns
//     packets.ErrRejectPacket: mochi sends nothing and delivers nothing.
//  2. A worker (shared by all clients, one per busy pipeline) appends
//     everything the client has pending in one Log.Append call (concurrent
//     clients are group-committed by the log).
//  3. The batch's acks (PUBACK, or PUBREC with the id kept for the client's
//     PUBREL) leave in one write, in arrival order; then each packet is
//     injected through the node's inline client, marked with its
//     publisher's id. OnPublish
//     restores that id as the origin (NoLocal keeps working) and mochi
//     retains and fans out as usual; a retained publish goes through
//     Events.RetainLocal first, when set (the cluster's last-writer-wins). The acks never pass through mochi's
//     Inflight map, which v2.7.9 shares between both directions' packet
//     ids (ids.go).
//  4. When the append fails, an MQTT 5 client gets reason code 0x97 (log
//     full) or 0x80; an MQTT 3.1.1 client is disconnected without an ack and
//     its other pending messages are discarded, so it resends them all.
//
// Security (security.go, listener.go; policy in package edge/auth): coreHook
// is the only hook answering OnConnectAuthenticate and OnACLCheck, because
// mochi ORs them and one permissive hook would allow everything.
//
//   - Admission, per listener (guard): open sockets and new connections a
//     second are bounded; the guard itself reads the CONNECT within
//     connect_timeout (TLS handshake included) before mochi builds a client,
//     so a stalled socket costs a goroutine and what it sent (measured over
//     1,000 stalled sockets: 4-6 KiB of Go heap and stacks each on tcp,
//     about 10 KiB on tls; a mochi client before CONNECT cost ~90 KiB).
//   - Authentication: a verified client certificate (username_from_cert),
//     else a username and password checked against the users file, else
//     anonymous where the listener allows it. The client's Username becomes
//     that identity. A client id whose session belongs to another identity
//     is refused; a takeover by the same identity follows the spec (the old
//     connection gets DISCONNECT 0x8E) and is logged.
//   - Authorisation: publishes, subscription filters and each delivery's
//     topic go through the client's auth.Access, decided once at CONNECT.
//     Topic length and depth bound publishes and filters, max_subscriptions
//     bounds filters (refused with 0x8F), publish_rate slows a client down.
//
// Concurrency: Broker methods are safe for concurrent use. Every goroutine
// the broker starts is stopped and waited for by Close.
package edge

// Package cluster makes several Outpost nodes on one site act as one broker.
//
// It owns three things:
//
//   - Membership, over hashicorp/memberlist: who is in the cluster, each node's
//     metadata (id, MQTT/HTTP/data-plane addresses, version), and a periodic
//     rejoin of known peers, because memberlist does not rediscover peers after
//     a full partition once their dead entries expire.
//   - Subscription interest: every node gossips the topic filters its local
//     clients subscribe to, stamped with a per-node version, so duplicated or
//     reordered gossip is harmless; memberlist's push/pull full-state sync
//     repairs anything a broadcast missed.
//   - The data plane. Messages never travel inside memberlist packets. For every
//     peer a forwarder tails the local Log from its own cursor "cluster/<peer>",
//     keeps only what the peer's interest matches, and streams batches over one
//     persistent TCP connection to the peer's receiver (length-prefixed frames,
//     see frame.go). The receiver drops duplicates with a per-origin high-water
//     mark, hands each message to Deliverer.Deliver (local fan-out only) and acks
//     the batch; the forwarder commits its cursor over the acked prefix. A peer
//     back after an absence catches up from its cursor, never from further back
//     than Options.CatchUpWindow.
//   - Retained messages converge cluster-wide, last writer wins by ingest
//     time then node id (retained.go); the broker stores a local retained
//     publish through RetainLocal, which refuses one a peer's newer message
//     has replaced. A client id is unique cluster-wide:
//     ClientConnected gossips a claim and other nodes drop older connections
//     with that id (session.go). Both use optional interfaces of the
//     Deliverer: Retainer and Sessions.
//
// What it never does: append to the log, forward a message it received from a
// peer (no loops: a forwarder only reads its own node's log), import storage or
// edge (it defines Log, Reader, Deliverer and Interest; cmd/outpost adapts them),
// or forward upstream (each node's bridges forward only its own log).
//
// Security: memberlist gossip is encrypted with Options.SecretKey. Without a key
// the node only talks to loopback peers (Validate rejects non-loopback seeds and
// addresses, and membership and data connections from other hosts are
// refused). With a key, data-plane connections are authenticated with an
// HMAC-SHA256 challenge derived from the key; the data plane itself is not
// encrypted.
//
// Concurrency: New builds, Start starts memberlist, the data listener, the
// reconcile, rejoin, retained-tracker, take-over and reliable-interest loops,
// and one forwarder goroutine pair per live peer; Close stops all of them and
// waits. Members, Stats, InterestChanged and ClientConnected are safe for
// concurrent use once Start returned.
// memberlist delegate methods never block: they take short mutexes and signal
// channels without waiting.
package cluster

// Package bridge moves records from the node's log to an upstream Sink (a
// Kafka cluster, a cloud MQTT broker) at least once, in log order, and never
// forgets a record the uplink has not acknowledged.
//
// What it owns: one named cursor per bridge ("bridge/<name>") in the
// storage.Log, topic mapping (rules of MQTT filter -> destination), the window
// of records in flight, retry with exponential backoff and jitter, the stall
// watchdog, the optional byte-rate limit, dead letters (log.KV
// "deadletter/<name>") and replay (cursor reset).
//
// What it never does: import franz-go, paho or package edge; append to the
// log; delete records (retention is the storage package's job and honours the
// cursor).
//
// Delivery contract: a Bridge tails the log from its cursor, maps each record
// through its rules (a record no rule matches is skipped, not sent), hands the
// mapped messages to its Sink in log order with at most Options.Window in
// flight, and commits the cursor only over the contiguous prefix of records
// that are done (acknowledged by the sink, skipped, or dead-lettered). A
// retryable failure tears the connection down and resends from the first
// record not done, so duplicates upstream are bounded by the window in flight
// at the failure; every message carries its record id (origin, offset) so the
// receiver can drop them. The last delivery of each record is always in log
// order, but when one message fails while later ones were acknowledged (an
// MQTT PUBACK timeout) the later ones arrive once before the resent tail: a
// receiver deduplicating with a strict per-origin high-water mark would drop
// the failed record; it should remember the ids of the last window instead.
//
// Configuration: a bridge is Options plus its sink's options, chosen by Kind;
// cmd decodes each bridge as Options inline with a "kafka:" section
// (kafkasink.Options) or an "mqtt:" section (mqttsink.Options). Stats feeds
// /api/v1/status and /metrics; DeadLetters, Resend, Replay and ReplayTime back
// the HTTP API.
//
// Concurrency: Run is called once per Bridge and owns every goroutine it
// starts; Stats, DeadLetters, Resend and Replay may be called concurrently
// with Run from any goroutine. The decision logic (window.go, backoff.go,
// stall.go, ratelimit.go, mapping.go) has no goroutines and takes time as an
// argument.
package bridge

// Package rollup computes rolling sensor aggregates at the edge: for each
// rule, it groups matching messages into series (by default one per topic),
// keeps bounded sliding windows per series, and produces small JSON
// aggregates (avg, min, max, sum, count, stddev, last, rate) to publish.
//
// It is pure code driven by records and a clock, in the style of raft's
// RawNode: Observe feeds a message with its time, Tick(now) returns what is
// due and expires idle series, Snapshot(now) and Stats report. There are no
// goroutines, no I/O and no logging; it imports no other Outpost package.
// An Engine is not safe for concurrent use: its owner (the node) serializes
// calls and publishes the returned Outputs through the broker.
//
// # Windows
//
// A time window ("5m") is a ring of Rule.Buckets fixed buckets of width
// span/buckets; each bucket keeps the count, sum, M2 (for stddev), min,
// max and first sample of its samples, only the fields the rule's functions
// need. The window at time now is the buckets whose index (time / width)
// lies in (now/width - buckets, now/width]: its edges are bucket-granular,
// so a 5m window with 15 buckets covers between 4m40s and 5m of samples.
// avg, sum, count, min, max and stddev are exact over those buckets (up to
// float rounding); the first sample's time is truncated to a power of ten
// nanoseconds >= width/2^32 (1 ns for buckets up to 4.29 s, 10 ns up to 42.9 s,
// whole milliseconds stay exact for buckets up to 49 days). A sample older than the window's oldest bucket
// relative to the newest sample seen is dropped and counted as Late; an
// out-of-order sample inside the window lands in its bucket.
//
// A count window ("last 20") keeps the last N samples in arrival order
// with running sums (recomputed exactly every N samples).
//
// "last" is the newest sample by time (count windows: by arrival); "rate" is
// (last - first value) / (last - first time) in units per second.
//
// # Memory
//
// Per series and time window: 8 + buckets × 8 × (2 + 1 if stddev + 2 if
// min or max + 1 if rate) bytes, in one slab per series; per count window
// 16 bytes per sample. With the default 15 buckets and three windows a
// series takes about 600 bytes per window for avg/min/max/last and 860 with
// every function (BenchmarkMemory). Series per rule are capped (MaxSeries,
// overflow counted), expire after IdleExpiry without samples, and a rule
// whose full series could exceed MaxRuleMemory is refused.
//
// # Restarts and feedback
//
// After a restart the node replays the log's last ReplaySpan through Replay
// (Observe without outputs) with the records' original times, in log order,
// and then resumes Observe and Tick: windows continue instead of restarting
// from zero. Sample times are meant to be the log's ingest times, which
// are monotonic per node; a sample far in the future would move every window
// of its series ahead and make the following samples Late. The engine
// ignores every topic its output templates can produce, so its own outputs,
// appended to the log like any message, never feed back.
package rollup

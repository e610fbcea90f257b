// Package storage is Outpost's durable, append-only record log: every MQTT
// message a node accepts is appended here before it is acknowledged, and
// every consumer (bridges, peer forwarders, rollups) reads it from its own
// named cursor. It is the only package that imports Badger.
//
// # What it owns
//
//   - The log: Append assigns gapless, strictly increasing offsets (starting
//     at 1, recovered on Open, never reused after a crash or after retention
//     empties the log) and stamps ingest time and origin node id.
//   - Reading: Read from an offset, and Reader, a tailing reader that blocks
//     on a commit notification (no polling) and prefetches several batches
//     per Badger iterator. A Reader's batches are bounded in records and in
//     bytes (Record.MemSize), so a backlog of large payloads is not read
//     into memory whole.
//   - Chunks: one Badger entry holds consecutive records of one group
//     commit, up to a block of 256 offsets and 16 KiB (chunk.go), so
//     Badger's per-entry costs (iteration, index, compaction) are paid per
//     chunk. A larger record is a chunk of its own, written from Append's
//     encoding buffer, where room is left for its length prefix, rather
//     than copied into the group's chunks. A cold read of 1M records went from 0.84M to 3.06M records/s
//     (BenchmarkReadCold) and 256 appenders in batch mode from 0.88x to 1.36x
//     raw Badger (BenchmarkAppend). Logs written with one record per key are
//     still read.
//   - Named cursors (Commit/Cursor/RemoveCursor) that hold back retention.
//   - Retention by max_bytes and max_age (and optionally "every cursor has
//     passed it"), with the drop-oldest / reject-new policy, and the disk-full
//     state (ErrFull).
//   - Small key/value buckets (KV) for the MQTT front end and the bridges.
//   - The record codec (EncodeRecord/DecodeRecord), versioned.
//
// It never interprets topics or payloads, never talks to the network, and
// never decides what a consumer has delivered: consumers Commit.
//
// # Concurrency
//
// Every method of Log and KV is safe for concurrent use. A Reader belongs to
// one goroutine (Close may come from any). Open starts the writer, the only
// goroutine that writes to Badger (appends, KV writes, cursor persistence and
// retention deletes all go through it, so one group commit is one Badger
// write followed by at most one fsync; before it commits a group it yields
// once, so that appenders ready to run join it), the retention loop, and in
// fsync mode a syncer owned by the writer: the writer commits group N+1 while
// the syncer fsyncs group N, and one fsync covers every group committed
// before it started (the syncer waits up to one fsync's time for more
// groups when it has fewer callers than its previous fsync released); in
// batch mode a syncer beside the writer syncs every sync_interval, so
// commits go on while it writes. An fsync is an fdatasync of the active memtable WAL,
// which holds every record below Badger's value threshold, unless a commit
// wrote to the value log or the memtable rotated since the previous one;
// then it is Badger's Sync plus an fsync of each rotated WAL (syncAll).
// In fsync mode on ext4 or XFS the WAL is zeroed walZeroAhead bytes ahead
// of its writes while syncs are small (zeroahead.go; the Badger copy's
// change 18), so that a sync writes data, not the allocation of a new block
// (on a journaled ext4, a commit of the journal).
// Badger's Sync also syncs the value-log files rotated out since the last
// one: the Badger copy's rotation no longer syncs the file it closes in the
// writer's path (third_party/badger/OUTPOST.md, change 15).
// A group's records are written with Badger's WriteEntries (a change of
// Outpost's Badger copy: in the writer's goroutine, outside a transaction,
// since a chunk's key is written once), and its other writes, when it has
// any, in one transaction after them (writer.commit).
// Close stops all of them after the queue is committed and synced. Append callers block until their group is durable; Readers
// block on a channel closed at each publish.
//
// Records become visible to Read and Readers only once durable per the
// mode: in fsync mode after their fsync, so no consumer ever forwards an
// offset that a power loss could hand to a different record. In batch mode
// they are visible after the write; a power loss inside the sync window can
// then lose records consumers already saw, and the recovered log reuses
// their offsets.
//
// # Durability modes and loss windows
//
//   - fsync (default): Append returns after the group commit is fsynced.
//     Survives kill -9 and power loss. Concurrent appenders share a sync.
//   - batch: Append returns after the records are in Badger's write-ahead
//     log (survives kill -9); the syncer fsyncs every sync_interval (200ms
//     default), so power loss may lose the last interval of acknowledged
//     records.
//   - none: no explicit fsync; the kernel writes back when it likes. Power
//     loss may lose anything not yet written back (typically up to ~30s).
//
// KV writes are synced in fsync mode. Cursor commits are persisted with the
// next group commit (or within retention_interval) without their own sync:
// after a crash a cursor may lag slightly (replay, at-least-once), never lead.
//
// # Disk full
//
// Badger writes its write-ahead log and tables through memory-mapped sparse
// files; hitting ENOSPC inside such a mapping kills the process with SIGBUS
// rather than returning an error. The writer therefore checks free space
// (statfs) before every group commit and refuses appends with ErrFull while
// the file system has less than min_free_bytes (profile default: two
// memtables plus four tables, 8 MiB for pi). ENOSPC errors that do surface
// also map to ErrFull. Reads, cursor commits, KV writes and retention keep
// working inside the reserve; appends succeed again as soon as space
// returns, without a restart.
//
// # Profiles and memory (measured)
//
// Options.Profile sizes Badger. Peak RSS measured by TestProfileRSS
// (STORAGE_RSS=1; 1M 100-byte records appended by 64 appenders in batch
// mode, then read back by one Reader; x86-64, Go 1.26, default GOGC):
//
//	pi     2 MiB memtables x2, 1 MiB tables, 8 MiB block + 4 MiB index cache,
//	       16 MiB value-log files, values >= 64 KiB in the value log.
//	       Peak RSS 100-120 MiB (three runs on 2026-12-04; 118-124 MiB
//	       with the 4 MiB memtables pi had before; 165 MiB when pi
//	       compressed its tables with snappy).
//	large  64 MiB memtables x3, 8 MiB tables, 128 MiB block + 64 MiB index
//	       cache, 256 MiB value-log files, values >= 1 MiB in the value log.
//	       Peak RSS 795 MiB (anon 748 MiB, mapped files 46 MiB). For gateways
//	       with 4 GB of RAM or more.
//
// Table compression (Options.Compression) is off in pi and snappy in large.
// Badger fills a compressed table up to its compressed size, and its builder
// holds every block raw plus a worst-case compressed copy, in z.Allocator
// buffers from a pool of 8. Until 2026-12-03 that pool kept every buffer its
// allocators had grown and gave none back while writes went on, so with
// telemetry that compresses well the builders' memory followed the
// compression ratio and ratcheted up: with the bench load (64-byte payloads,
// 12 runs of 100k messages, QoS 1 pipelined, batch mode) snappy grew to 217
// MiB of live heap and was still growing, none to 64 MiB. Outpost's copy of
// ristretto (third_party/ristretto/OUTPOST.md) bounds the pool at 16 MiB of
// first buffers. Eight runs of 100k messages back to back, heap after a
// forced GC following each run: snappy 15-21 MiB (134 MiB before the copy),
// none 25-30 MiB (71-78). The copy also lends at most three allocators at
// once (a compaction ran up to 8 builders plus one per split, per
// compactor): with it the same runs hold 19.5 MiB at the median (28.1
// without) and ingest no slower. So the pool no longer rules out snappy on a
// Pi, but pi stays uncompressed for now: a flush's builder holds the memtable's
// blocks twice, and the bench's peak RSS waiting for each ack rose from 43.9
// to 50.9 MiB (median of 7 alternated runs; pipelined 54.7 -> 52.1 MiB,
// 1.07x the rate). No compression costs disk: on the footprint run the log
// of 1M records took 133 MiB instead of 25 and the node wrote 9.3 bytes per
// payload byte instead of 3.6, which an SD card pays in wear; compression:
// snappy brings that back.
//
// A heap profile of the uncompressed 12-run measurement, before the copy,
// showed about 47 MiB live (Badger table builder buffers 24 MiB, decompressed
// blocks 8 MiB, memtable arenas 5 MiB); the rest of the anonymous RSS was
// garbage the Go GC allowed at GOGC=100, which a GOMEMLIMIT set by the binary
// bounds. Mapped file pages are reclaimable
// by the kernel, but while mapped they count in the process's RSS (and its
// OOM score), and Badger writes its tables and WALs through memory maps. The
// pi profile therefore hands them back (releaser, release_linux.go): every
// 250 ms while records come in, the pages of the WAL and of the tables
// written since the previous pass (flushes, compactions); every 30 s, or as
// soon as the process's mapped file pages have grown by 8 MiB since their
// low point after the last such pass (a compaction reading its input
// tables, a subscriber catching up, Badger's value-log GC reading a value
// log file), the value-log files', then, if growth remains,
// those of every table. Until 2026-12-04 (late night) the 8 MiB counted
// from the previous pass only, so pages coming back under 32 MB/s waited
// for the 30 s pass: 1,000 records of 256 KiB took the node to 276 MiB of
// RSS (32 MiB since). Since 2026-12-04 (midnight) Badger writes the value
// log with pwritev and Read's ValueCopy reads it with pread, not through its
// map (its OUTPOST.md, changes 10 and 11), so appends and reads map none of
// its pages; the value-log GC and OffsetAt's probes still do. A table
// Badger is writing joins the tree only when its compaction ends, but
// Outpost's copy of Badger writes it with write(2), not through its map
// (until 2026-12-03, night: Outpost's copy of ristretto dropped its pages as
// soon as Badger msynced it), so it holds no pages until it is read.
// Under sustained writes (eight bench runs of 100k QoS 1 messages, pipelined,
// back to back against one node, three alternated series) these two took
// the peak RSS from 194-199 MiB to 91-101 MiB at the same rate; the bench's
// own rows were unchanged waiting for each ack (1.00x, peak 46.6 vs 45.8
// MiB) and pipelined (1.02x, peak 51.0 vs 55.3 MiB). Tables and the WAL get
// madvise(MADV_DONTNEED), which leaves the pages, dirty ones included, in
// the page cache, so a read of them later is a minor fault, not a disk
// read; it is given only to files an open iterator keeps mapped, since on
// an anonymous mapping that took over the addresses it would zero memory.
// The value log gets MADV_PAGEOUT (Linux 5.4+, a hint). In the QoS 1
// benchmark (waiting for each ack) the node's peak RSS fell from 54 to
// 44 MiB (medians of 5 runs), with no change in rate; a pass costs 0.7-1.0 ms
// with 220 tables (1M records), a full one 14 ms (BenchmarkReleaseMapped).
// On the footprint run, 1M-record backlog and 1,000 devices, mapped files
// are 18 MiB, of which 15 MiB is the binary itself.
//
// # 32-bit ARM
//
// On 32-bit platforms (linux/arm v6 and v7) Badger's memory maps share a
// 2-3 GiB address space with the heap: the large profile memory-maps files
// too big for it and is refused by Validate. Until 2026-12-03 tables were
// also uncompressed and memtable-sized there: ristretto's z.Allocator, from
// which Badger's table builder takes its buffers, wrapped back to its first
// buffer once that was full on a 32-bit int, and handed out memory still in
// use (corrupt tables: a log that read empty after a restart). Outpost's
// copy of ristretto fixes it (third_party/ristretto/OUTPOST.md, change 4).
// make test-arm runs this package on arm64 and arm/v7 under qemu-user.
//
// # Retention
//
// Retention runs every retention_interval on its own goroutine (decisions in
// the pure planRetention). max_bytes bounds the directory: the records'
// budget is max_bytes minus the profile's Badger overhead, and retention
// trims to 90% of it. A cut commits the new first offset and a tombstone
// for each deleted chunk, then deletes the Badger tables that hold only
// deleted chunks (DropRange), which frees their space at once
// (TestRetentionMaxBytes measures the directory) without blocking writes or
// rewriting a table. Badger keeps consecutive offsets in tables of their
// own (tableBoundary) and moves them down its levels instead of rewriting
// them (third_party/badger/OUTPOST.md, change 16): the records are written
// twice, to the memtable's WAL and to its flushed table, and only the table
// that holds the new first offset is rewritten, once its tombstones reach it
// (TestRetentionRewritesNoRecords). Registered
// cursors hold retention back; when a bound forces deletion past a cursor,
// drop-oldest moves the cursor and counts the drop (Stats.Cursors[].Dropped,
// logged once per episode), reject-new refuses appends with ErrFull instead
// (max_age never rejects: under reject-new it waits for the cursors).
//
// max_age compares each record's ingest time with the wall clock, and also
// never deletes what this process appended less than max_age ago by its
// running (monotonic) clock (clock.go): a gateway without a real-time clock
// stamps an outage's records with a stale time, and NTP's step forward, once
// the uplink is back, would otherwise expire them before a bridge sends
// them. A step forward is also kept in the log, as a shift of the stamps of
// the records appended before it, so a restart does not expire them either.
// On Linux a clock anchor (the boot id and the boot clock, which no step
// moves, read with the wall clock) lets a process see a step made while no
// process ran, or before the restarted one's first pass, and a step covers
// every record appended in the same boot. Records an earlier boot appended
// go by their stamps and the shifts it stored.
package storage

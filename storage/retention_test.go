package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"expvar"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func TestPlanRetention(t *testing.T) {
	base := retentionInput{first: 100, next: 200, logical: 1000, ageCut: 100, minCursor: 200, policy: DropOldest}
	tests := []struct {
		name string
		mod  func(*retentionInput)
		want retentionPlan
	}{
		{"unbounded keeps all", func(in *retentionInput) {}, retentionPlan{cut: 100, limit: 200}},
		{"age cuts", func(in *retentionInput) { in.ageCut = 150 }, retentionPlan{cut: 150, limit: 200}},
		{"age passes lagging cursor under drop-oldest", func(in *retentionInput) {
			in.ageCut, in.minCursor, in.hasCursors = 150, 120, true
		}, retentionPlan{cut: 150, limit: 200}},
		{"age held by cursor under reject-new", func(in *retentionInput) {
			in.ageCut, in.minCursor, in.hasCursors, in.policy = 150, 120, true, RejectNew
		}, retentionPlan{cut: 120, limit: 200}},
		{"bytes over budget frees to low water", func(in *retentionInput) { in.budget = 500 }, retentionPlan{cut: 100, limit: 200, freeBytes: 550}},
		{"bytes under reject-new limited to cursor", func(in *retentionInput) {
			in.budget, in.minCursor, in.hasCursors, in.policy = 500, 130, true, RejectNew
		}, retentionPlan{cut: 100, limit: 130, freeBytes: 550}},
		{"reject-new without cursors behaves like drop-oldest", func(in *retentionInput) {
			in.budget, in.policy = 500, RejectNew
		}, retentionPlan{cut: 100, limit: 200, freeBytes: 550}},
		{"delete consumed", func(in *retentionInput) {
			in.deleteConsumed, in.minCursor, in.hasCursors = true, 180, true
		}, retentionPlan{cut: 180, limit: 200}},
		{"delete consumed needs a cursor", func(in *retentionInput) { in.deleteConsumed = true }, retentionPlan{cut: 100, limit: 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			tc.mod(&in)
			if got := planRetention(in); got != tc.want {
				t.Fatalf("plan = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRetentionMaxAge(t *testing.T) {
	l := openTest(t, "", func(o *Options) { o.MaxAge = 100 * time.Millisecond; o.RetentionInterval = 20 * time.Millisecond })
	appendN(t, l, 0, 100)
	if err := l.Commit("slow", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return l.FirstOffset() == 101 }, "old records not deleted: first %d", l.FirstOffset())
	st := l.Stats()
	if st.Records != 0 || st.Cursors["slow"].Dropped != 100 || st.Cursors["slow"].Next != 101 || st.Dropped != 100 {
		t.Fatalf("stats after age drop: %+v", st)
	}
	if recs, err := l.Read(context.Background(), 1, 10); err != nil || len(recs) != 0 {
		t.Fatalf("Read after drop = %d records, %v", len(recs), err)
	}
	offs := appendN(t, l, 0, 1)
	if offs[0] != 101 {
		t.Fatalf("offset after emptying = %d, want 101", offs[0])
	}
	r := l.NewReader(1) // positioned below FirstOffset: skips the dropped records
	if recs, err := r.Next(context.Background()); err != nil || len(recs) != 1 || recs[0].Offset != 101 {
		t.Fatalf("reader from 1 after drop: %+v %v", recs, err)
	}
}

// TestRetentionMaxBytesLargeRecords is TestRetentionMaxBytes with records
// big enough for Badger's value log (256 KiB with pi): their space comes back
// as the value-log GC deletes value-log files at least 90% garbage (never the
// one being written), so the disk settles within max_bytes plus one
// value-log file (16 MiB with pi; 48-53 MiB with a max_bytes of 48 MiB, 144
// MiB appended). It settled at 80-84 MiB before retention counted what it
// deletes and the GC stopped writing deleted values back (Badger's
// OUTPOST.md, change 13); without the GC it would keep every file. Every
// record still in the log reads back intact, before and after a reopen
// (Badger writes the value log with pwritev and Read reads it with pread:
// changes 10 and 11; the GC rewrites live records).
func TestRetentionMaxBytesLargeRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 144 MiB (-short)")
	}
	l, dir, opts := openLargeRecords(t)
	size, total := largeSize(l), 3*largeMaxBytes/largeSize(l) // 3 x max_bytes
	peak := appendLarge(t, l, 1, total, size)
	st := settleDisk(t, l, largeMaxBytes+l.prof.vlogFile)
	t.Logf("max_bytes %d MiB, %d records of %d KiB (%d MiB): peak disk %d MiB, settled %d MiB, first offset %d",
		largeMaxBytes>>20, total, size>>10, total*size>>20, peak>>20, st.DiskBytes>>20, st.FirstOffset)
	if st.FirstOffset <= 1 {
		t.Fatal("nothing deleted")
	}
	check := func(l *Log, when string) {
		t.Helper()
		first, next := l.FirstOffset(), l.NextOffset()
		if next != uint64(total+1) {
			t.Fatalf("%s: next offset %d, want %d", when, next, total+1)
		}
		for from := first; from < next; {
			recs, err := l.Read(context.Background(), from, 16)
			if err != nil || len(recs) == 0 {
				t.Fatalf("%s: read from %d: %d records, %v", when, from, len(recs), err)
			}
			for _, r := range recs {
				// Retention may go on trimming meanwhile: records below
				// the first offset may go, no others.
				if r.Offset != from && (r.Offset < from || r.Offset > l.FirstOffset()) {
					t.Fatalf("%s: record %d after %d, with the first offset at %d", when, r.Offset, from-1, l.FirstOffset())
				}
				if !bytes.Equal(r.Payload, largePayload(r.Offset, size)) {
					t.Fatalf("%s: record %d differs", when, r.Offset)
				}
				from = r.Offset + 1
			}
		}
	}
	check(l, "before the reopen")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, dir, opts), "after the reopen")
}

// largeMaxBytes is the max_bytes of the tests of records for the value log.
const largeMaxBytes = 48 << 20

// openLargeRecords opens a log in a new directory with a max_bytes of
// largeMaxBytes, retention running every 50 ms, and returns it with its
// directory and options.
func openLargeRecords(t *testing.T) (*Log, string, func(*Options)) {
	dir := t.TempDir()
	opts := func(o *Options) { o.MaxBytes = largeMaxBytes; o.RetentionInterval = 50 * time.Millisecond }
	return openTest(t, dir, opts), dir, opts
}

// largeSize is the size of the records of those tests: 256 KiB with pi.
func largeSize(l *Log) int { return 4 * int(l.prof.valueThreshold) }

// largePayload is record off's payload: its offset, then bytes derived from
// it (random, so that compression cannot shrink them).
func largePayload(off uint64, size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint64(p, off)
	r := rand.NewChaCha8([32]byte{byte(off), byte(off >> 8), byte(off >> 16)})
	_, _ = r.Read(p[8:])
	return p
}

// appendLarge appends records from..to (their offsets) of size bytes, one
// per call, and returns the peak of the disk bytes seen meanwhile.
func appendLarge(t *testing.T, l *Log, from, to int, size int) (peak int64) {
	t.Helper()
	for i := from; i <= to; i++ {
		offs, err := l.Append(context.Background(), []Record{{Topic: "cam", QoS: 1, Payload: largePayload(uint64(i), size)}})
		if err != nil {
			t.Fatal(err)
		}
		if offs[0] != uint64(i) {
			t.Fatalf("record %d got offset %d", i, offs[0])
		}
		peak = max(peak, l.Stats().DiskBytes)
	}
	return peak
}

// settleDisk waits up to a minute for the disk bytes to fall to bound.
func settleDisk(t *testing.T, l *Log, bound int64) Stats {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	st := l.Stats()
	for ; st.DiskBytes > bound; st = l.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("disk bytes stay above max_bytes and a value-log file (%d MiB): %+v", bound>>20, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return st
}

// TestOpenRecountsValueLogGarbage: what retention counted of the value log's
// garbage lives in Badger's DISCARD file, a shared mapping that a power cut
// can lose (as can a data directory from before the counts). Open recounts it
// from the live records. Here the file is removed while the oldest value-log
// file has some of its records deleted; once retention has deleted the rest,
// after the reopen, every value-log file from before the reopen is gone.
// Without the recount that file's older deletions were never counted, and it
// stayed.
func TestOpenRecountsValueLogGarbage(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 216 MiB (-short)")
	}
	l, dir, opts := openLargeRecords(t)
	size, total := largeSize(l), 3*largeMaxBytes/largeSize(l)
	appendLarge(t, l, 1, total, size)
	settleDisk(t, l, largeMaxBytes+l.prof.vlogFile)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "DISCARD")); err != nil {
		t.Fatal(err)
	}
	var before []string // value-log files holding values (not only their 20-byte header)
	names, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	for _, name := range names {
		if fi, err := os.Stat(name); err == nil && fi.Size() > 20 {
			before = append(before, name)
		}
	}
	if err != nil || len(before) < 2 {
		t.Fatalf("value-log files %v, %v", names, err)
	}
	l = openTest(t, dir, opts)
	appendLarge(t, l, total+1, total+total/2, size) // 1.5 x max_bytes
	deadline := time.Now().Add(60 * time.Second)
	for {
		var left []string
		for _, name := range before {
			if _, err := os.Stat(name); err == nil {
				left = append(left, filepath.Base(name))
			}
		}
		st := l.Stats()
		if len(left) == 0 && st.FirstOffset > uint64(total) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("value-log files from before the reopen left: %v (of %d); first offset %d, appended before %d",
				left, len(before), st.FirstOffset, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRetentionMaxBytes appends well past max_bytes and checks, by measuring
// the directory, that bytes on disk fall back under max_bytes.
func TestRetentionMaxBytes(t *testing.T) {
	const maxBytes = 32 << 20
	l := openTest(t, "", func(o *Options) { o.MaxBytes = maxBytes; o.RetentionInterval = 50 * time.Millisecond })
	if err := l.Commit("lagging", 1); err != nil {
		t.Fatal(err)
	}
	peak := int64(0)
	noise := make([]byte, 1<<20) // random, so Snappy cannot shrink the records
	_, _ = rand.NewChaCha8([32]byte{1}).Read(noise)
	for i := 0; i < 320; i++ { // 320 x 200 x 1 KB = 2 x max_bytes
		recs := make([]Record, 200)
		for j := range recs {
			at := (i*200 + j) * 997 % (len(noise) - 1000)
			recs[j] = Record{Topic: "t", Payload: noise[at : at+1000]}
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, l.Stats().DiskBytes)
	}
	var st Stats
	deadline := time.Now().Add(60 * time.Second)
	for st = l.Stats(); st.DiskBytes >= maxBytes; st = l.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("disk bytes stay above max_bytes: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("max_bytes %d, peak disk %d, settled disk %d, stored bytes %d, records %d, dropped %d",
		maxBytes, peak, st.DiskBytes, st.Bytes, st.Records, st.Dropped)
	if st.Dropped == 0 || st.Cursors["lagging"].Dropped == 0 || st.Cursors["lagging"].Next != st.FirstOffset {
		t.Fatalf("forced drops not counted: %+v", st)
	}
	if st.FirstOffset <= 1 {
		t.Fatal("nothing deleted")
	}
}

// TestRetentionRewritesNoRecords: at its max_bytes, with a cursor and a KV
// bucket written beside the records as the node does, the log's records are
// written once to Badger's tables (the memtable's flush) and never again:
// their tables move down the levels (tableBoundary, Badger's MoveTables) and
// retention drops them whole (DropRange). Badger's compactions wrote 3-7
// times the records' bytes when retention used DropPrefix, which compacted
// all of L0 into the base level and so rewrote that level on every pass.
func TestRetentionRewritesNoRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 72 MiB (-short)")
	}
	const maxBytes = 24 << 20
	l := openTest(t, "", func(o *Options) { o.MaxBytes = maxBytes; o.RetentionInterval = 50 * time.Millisecond })
	kv := l.KV("sessions")
	before := compactionBytes()
	var appended int64
	for i := 0; appended < 3*maxBytes; i++ {
		recs := make([]Record, 100)
		for j := range recs {
			recs[j] = benchRecord(i*100 + j)
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		appended += int64(len(recs) * len(EncodeRecord(nil, &recs[0])))
		if err := l.Commit("bridge", l.NextOffset()); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if err := kv.Put(fmt.Sprintf("client-%d", i%7), []byte("session state")); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := settleDisk(t, l, maxBytes)
	rewritten := compactionBytes() - before
	t.Logf("appended %d MiB of records; compactions wrote %d KiB; %d tables dropped whole; disk %d MiB, first offset %d",
		appended>>20, rewritten>>10, st.DroppedTables, st.DiskBytes>>20, st.FirstOffset)
	if st.FirstOffset <= 1 || st.DroppedTables == 0 {
		t.Fatalf("retention dropped no table: %+v", st)
	}
	if rewritten > appended/20 {
		t.Fatalf("compactions wrote %d bytes for %d bytes of records appended", rewritten, appended)
	}
	recs, err := l.Read(context.Background(), st.FirstOffset, 1)
	if err != nil || len(recs) != 1 || recs[0].Offset != st.FirstOffset {
		t.Fatalf("first record: %v, %v", recs, err)
	}
}

// TestRetentionLargeCut: one retention pass deletes more chunks than one
// Badger transaction takes tombstones for, and than one round of
// deleteOldest holds (a consumer caught up on a long backlog, with
// delete_consumed): the tombstones go in several transactions and rounds,
// and no chunk below the new first offset is left for the next pass, also
// after a reopen.
func TestRetentionLargeCut(t *testing.T) {
	dir, opts := t.TempDir(), consumedByHand
	l := openTest(t, dir, opts)
	appendBenchRecords(t, l, 0, 500)
	next := l.NextOffset()
	if err := l.Commit("bridge", next); err != nil {
		t.Fatal(err)
	}
	all, err := l.findCut(retentionPlan{cut: next, limit: next})
	if err != nil {
		t.Fatal(err)
	}
	if !all.more {
		t.Fatalf("%d chunks: fewer than a round's %d", len(all.keys), maxCutKeys)
	}
	if limit := l.db.MaxBatchCount(); int64(len(all.keys)) < limit {
		t.Fatalf("%d chunks, fewer than a transaction's %d entries", len(all.keys), limit)
	}
	now := time.Now()
	if err := l.retain(now, now.Sub(l.opened)); err != nil {
		t.Fatal(err)
	}
	left := func(l *Log) {
		t.Helper()
		if first := l.FirstOffset(); first != next {
			t.Fatalf("first offset %d, want %d", first, next)
		}
		c, err := l.findCut(retentionPlan{cut: next, limit: next})
		if err != nil || len(c.keys) != 0 {
			t.Fatalf("%d chunks left below the first offset (%v)", len(c.keys), err)
		}
	}
	left(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	left(openTest(t, dir, opts))
}

// TestRetentionDropsTablesAfterARestart: a process cut the log and stopped
// before it deleted the tables below the cut (a crash between the commit
// and DropRange). The next process finds where the deleted chunks end and
// deletes those tables on its first retention pass, with no new cut.
func TestRetentionDropsTablesAfterARestart(t *testing.T) {
	dir, opts := t.TempDir(), consumedByHand
	l := openTest(t, dir, opts)
	appendBenchRecords(t, l, 0, 200)
	cut := l.NextOffset() - 1000
	if err := l.Commit("bridge", cut); err != nil {
		t.Fatal(err)
	}
	if _, err := l.deleteOldest(retentionPlan{cut: cut, limit: cut}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, opts)
	before := l.Stats()
	now := time.Now()
	if err := l.retain(now, now.Sub(l.opened)); err != nil {
		t.Fatal(err)
	}
	after := l.Stats()
	t.Logf("first offset %d; disk %d MiB before the pass, %d MiB after; %d tables dropped",
		after.FirstOffset, before.DiskBytes>>20, after.DiskBytes>>20, after.DroppedTables)
	if after.FirstOffset != cut || after.DroppedTables == 0 || after.DiskBytes >= before.DiskBytes/2 {
		t.Fatalf("the tables below the cut stayed: %+v, before the pass %+v", after, before)
	}
}

// TestRetentionAfterUpgrade: a log written before Badger's tables ended at
// tableBoundary and moved (its change 16, 2026-12-05), whose tables mix the
// records with cursor and KV keys, is held to its max_bytes by the new
// retention too. Tables that compactions had split by size hold records
// only and are dropped whole (48 of them on x86-64); the rest go as
// compactions merge the tombstones with them (on arm/v7 under qemu, where
// fewer compactions had run before the close, all of it).
func TestRetentionAfterUpgrade(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) {
		o.badgerOptions = func(b badger.Options) badger.Options { return b.WithTableBoundary(nil).WithMoveTables(false) }
	})
	kv := l.KV("sessions")
	for i := 0; i < 400; i++ {
		appendBenchRecords(t, l, i, 1)
		if err := l.Commit("bridge", l.NextOffset()); err != nil {
			t.Fatal(err)
		}
		if err := kv.Put(fmt.Sprintf("client-%d", i%7), []byte("session state")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	const maxBytes = 24 << 20
	l = openTest(t, dir, func(o *Options) { o.MaxBytes = maxBytes; o.RetentionInterval = 50 * time.Millisecond })
	before := l.Stats().DiskBytes
	st := settleDisk(t, l, maxBytes)
	t.Logf("disk %d MiB before retention, %d MiB after; %d tables dropped whole; first offset %d",
		before>>20, st.DiskBytes>>20, st.DroppedTables, st.FirstOffset)
	if before <= maxBytes {
		t.Fatalf("nothing to show: disk %d before, %+v", before, st)
	}
	recs, err := l.Read(context.Background(), st.FirstOffset, 1)
	if err != nil || len(recs) != 1 || recs[0].Offset != st.FirstOffset {
		t.Fatalf("first record: %v, %v", recs, err)
	}
}

// consumedByHand: delete_consumed, with retention passes run by the test.
func consumedByHand(o *Options) { o.DeleteConsumed = true; o.RetentionInterval = time.Hour }

// appendBenchRecords appends calls x 1,000 bench records, 1,000 per call,
// the first made by benchRecord(from*1000).
func appendBenchRecords(t *testing.T, l *Log, from, calls int) {
	t.Helper()
	for i := from; i < from+calls; i++ {
		recs := make([]Record, 1000)
		for j := range recs {
			recs[j] = benchRecord(i*1000 + j)
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
}

// compactionBytes is what Badger's compactions have written in this process
// (its expvar metric; the package's tests run one at a time).
func compactionBytes() int64 {
	var n int64
	if m, ok := expvar.Get("badger_write_bytes_compaction").(*expvar.Map); ok {
		m.Do(func(kv expvar.KeyValue) {
			if v, ok := kv.Value.(*expvar.Int); ok {
				n += v.Value()
			}
		})
	}
	return n
}

func TestRetentionRejectNew(t *testing.T) {
	const maxBytes = 24 << 20
	l := openTest(t, "", func(o *Options) {
		o.MaxBytes, o.FullPolicy, o.RetentionInterval = maxBytes, RejectNew, 20*time.Millisecond
	})
	if err := l.Commit("bridge", 1); err != nil {
		t.Fatal(err)
	}
	var full error
	n := 0
	for ; n < 1000 && full == nil; n++ {
		recs := make([]Record, 1000)
		for i := range recs {
			recs[i] = rec(i)
		}
		_, full = l.Append(context.Background(), recs)
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("never got ErrFull after %d appends: %v", n, full)
	}
	st := l.Stats()
	if !st.Full || st.FirstOffset != 1 || st.Dropped != 0 {
		t.Fatalf("reject-new dropped or not full: %+v", st)
	}
	// The cursor moves on: retention frees space and appends work again.
	if err := l.Commit("bridge", l.NextOffset()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		_, err := l.Append(context.Background(), []Record{rec(0)})
		return err == nil
	}, "appends still refused after the cursor caught up")
	if l.FirstOffset() == 1 {
		t.Fatal("consumed records were not deleted")
	}
}

// TestLooseCursorsHoldNothing: a cursor under a LooseCursors prefix (a
// cluster peer that went away) neither stops delete_consumed nor, under
// reject-new, makes the log refuse appends; it is moved and counted.
func TestLooseCursorsHoldNothing(t *testing.T) {
	l := openTest(t, "", func(o *Options) {
		o.DeleteConsumed, o.FullPolicy, o.RetentionInterval = true, RejectNew, 20*time.Millisecond
		o.LooseCursors = []string{"cluster/"}
	})
	appendN(t, l, 0, 100)
	if err := l.Commit("cluster/gone", 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit("bridge/up", 101); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return l.FirstOffset() == 101 }, "consumed records kept for a loose cursor: first %d", l.FirstOffset())
	// The same retention pass then moves the loose cursor over the drop.
	eventually(t, 5*time.Second, func() bool {
		c := l.Stats().Cursors["cluster/gone"]
		return c.Next == 101 && c.Dropped == 100
	}, "loose cursor not moved and counted: %+v", l.Stats().Cursors["cluster/gone"])
}

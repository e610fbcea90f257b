package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// chunkKeys lists the log's chunk keys as (first, count) pairs.
func chunkKeys(t *testing.T, l *Log) [][2]uint64 {
	t.Helper()
	var out [][2]uint64
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsLog}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			first, n, ok := parseLogKey(it.Item().Key())
			if !ok {
				t.Fatalf("unparsable log key %x", it.Item().Key())
			}
			out = append(out, [2]uint64{first, uint64(n)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChunkLayout: appends of many sizes are stored as chunks that tile the
// log without gaps and never cross a block, and a read from any offset,
// inside a chunk or at its edge, starts exactly there.
func TestChunkLayout(t *testing.T) {
	l := openTest(t, "", nil)
	total := 0
	for _, n := range []int{1, 300, 7, 600, 3, 256} {
		appendN(t, l, total, n)
		total += n
	}
	keys := chunkKeys(t, l)
	next := uint64(1)
	for _, k := range keys {
		first, n := k[0], k[1]
		if first != next {
			t.Fatalf("chunk at %d after records up to %d", first, next)
		}
		if n < 1 || n > maxChunk || first>>blockBits != (first+n-1)>>blockBits {
			t.Fatalf("chunk %d+%d crosses a block or has a bad count", first, n)
		}
		next = first + n
	}
	if next != l.NextOffset() || int(next-1) != total {
		t.Fatalf("chunks end at %d, log next %d, appended %d", next, l.NextOffset(), total)
	}
	if len(keys) > total/10 {
		t.Fatalf("%d chunks for %d records in 6 appends", len(keys), total)
	}
	for from := uint64(1); from < next; from++ {
		recs, err := l.Read(context.Background(), from, 3)
		if err != nil {
			t.Fatal(err)
		}
		want := min(3, int(next-from))
		if len(recs) != want {
			t.Fatalf("Read(%d, 3) = %d records, want %d", from, len(recs), want)
		}
		for i, r := range recs {
			if r.Offset != from+uint64(i) || string(r.Payload) != string(rec(int(r.Offset-1)).Payload) {
				t.Fatalf("Read(%d)[%d] = offset %d payload %q", from, i, r.Offset, r.Payload)
			}
		}
	}
}

// TestLargeRecordsAreChunksOfTheirOwn: a record over maxChunkBytes is a
// chunk of its own, written from Append's buffer with its length prefix
// (not copied into the group's chunk arena): the keys and values are those
// of a chunk of one record, the records around it are chunked as before,
// and every record reads back with its offset, time and payload, in both
// write paths (a transaction, and WriteEntries for a group of appends only).
func TestLargeRecordsAreChunksOfTheirOwn(t *testing.T) {
	l := openTest(t, "", nil)
	sizes := []int{100, 20 << 10, 100, 100, 100 << 10, 17 << 10, 50}
	var recs []Record
	for i, n := range sizes {
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i + j)
		}
		recs = append(recs, Record{Topic: "cam", QoS: 1, Payload: p})
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit("c", 1); err != nil { // a cursor: the next group goes through a transaction
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	// Per append: [100] [20K] [100 100] [100K] [17K] [50]
	want := [][2]uint64{{1, 1}, {2, 1}, {3, 2}, {5, 1}, {6, 1}, {7, 1}}
	for _, k := range want[:6] {
		want = append(want, [2]uint64{k[0] + 7, k[1]})
	}
	if got := chunkKeys(t, l); !slices.Equal(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsLog}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			first, n, _ := parseLogKey(it.Item().Key())
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if n != 1 || len(v) <= maxChunkBytes {
				continue
			}
			err = chunkRecords(it.Item().Key(), v, n, func(_ int, b []byte) (bool, error) {
				rec, err := decodeRecord(b, false)
				if err == nil && (rec.Offset != first || len(rec.Payload) != sizes[(first-1)%7]) {
					err = fmt.Errorf("offset %d, %d payload bytes", rec.Offset, len(rec.Payload))
				}
				return true, err
			})
			if err != nil {
				t.Errorf("chunk %d: %v", first, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(context.Background(), 1, 100)
	if err != nil || len(got) != 14 {
		t.Fatalf("read %d records: %v", len(got), err)
	}
	for i, r := range got {
		if r.Offset != uint64(i+1) || r.Time.IsZero() || !bytes.Equal(r.Payload, recs[i%7].Payload) {
			t.Fatalf("record %d: offset %d, time %v, %d payload bytes", i, r.Offset, r.Time, len(r.Payload))
		}
	}
}

// TestLegacyRecordKeysStillRead: a log written with one record per key
// (before chunks) opens with its offsets, reads, and takes chunked appends
// after it.
func TestLegacyRecordKeysStillRead(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = l.db.Update(func(txn *badger.Txn) error {
		for off := uint64(1); off <= 10; off++ {
			r := rec(int(off - 1))
			r.Offset, r.Time, r.Origin = off, now, "old-node"
			if err := txn.Set(logKey(off), EncodeRecord(nil, &r)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, nil)
	if l.NextOffset() != 11 {
		t.Fatalf("next offset after legacy records = %d, want 11", l.NextOffset())
	}
	if offs := appendN(t, l, 10, 5); offs[0] != 11 {
		t.Fatalf("append after legacy records got offset %d", offs[0])
	}
	recs, err := l.Read(context.Background(), 5, 100)
	if err != nil || len(recs) != 11 {
		t.Fatalf("Read(5) = %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if r.Offset != uint64(5+i) || string(r.Payload) != string(rec(int(r.Offset-1)).Payload) {
			t.Fatalf("record %d: offset %d payload %q", i, r.Offset, r.Payload)
		}
	}
	if off, err := l.OffsetAt(now.Add(time.Millisecond)); err != nil || off != 11 {
		t.Fatalf("OffsetAt after the legacy records = %d, %v; want 11", off, err)
	}
}

// TestRetentionCutInsideChunk: a retention cut inside a chunk moves the
// first offset there (reads start at it) and keeps the chunk; a later cut
// past the chunk deletes it and its bytes; the byte count survives a
// restart exactly.
func TestRetentionCutInsideChunk(t *testing.T) {
	dir := t.TempDir()
	mod := func(o *Options) { o.DeleteConsumed = true; o.RetentionInterval = 10 * time.Millisecond }
	l := openTest(t, dir, mod)
	appendN(t, l, 0, 300)
	keys := chunkKeys(t, l)
	if len(keys) < 3 || keys[1][1] < 2 || keys[2][1] < 2 {
		t.Fatalf("layout %v: the test needs multi-record chunks", keys)
	}
	has := func(k [2]uint64) bool {
		for _, c := range chunkKeys(t, l) {
			if c == k {
				return true
			}
		}
		return false
	}
	full := l.Stats().Bytes
	cut := keys[1][0] + 1 // inside the second chunk: the first goes, the second stays
	if err := l.Commit("c", cut); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return l.FirstOffset() == cut }, "first %d, want %d", l.FirstOffset(), cut)
	eventually(t, 5*time.Second, func() bool { return !has(keys[0]) }, "the chunk wholly below the cut was not deleted")
	if recs, err := l.Read(context.Background(), 1, 2); err != nil || len(recs) != 2 || recs[0].Offset != cut {
		t.Fatalf("Read(1) after a cut at %d: %d records, %v", cut, len(recs), err)
	}
	if !has(keys[1]) {
		t.Fatalf("the chunk holding the cut %d was deleted", cut)
	}
	mid := l.Stats().Bytes
	if mid <= 0 || mid >= full {
		t.Fatalf("bytes after the first cut: %d of %d", mid, full)
	}
	cut = keys[2][0] + 1
	if err := l.Commit("c", cut); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return l.FirstOffset() == cut && !has(keys[1]) }, "second cut: first %d", l.FirstOffset())
	kept := l.Stats().Bytes
	if kept <= 0 || kept >= mid {
		t.Fatalf("bytes after deleting the second chunk: %d, were %d", kept, mid)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, dir, mod)
	if st := l2.Stats(); st.FirstOffset != cut || st.NextOffset != 301 || st.Bytes != kept {
		t.Fatalf("after reopen: first %d next %d bytes %d, want %d 301 %d", st.FirstOffset, st.NextOffset, st.Bytes, cut, kept)
	}
	if recs, err := l2.Read(context.Background(), 0, 1000); err != nil || len(recs) != int(301-cut) || recs[0].Offset != cut {
		t.Fatalf("Read after reopen: %d records, %v", len(recs), err)
	}
}

// FuzzChunkRecords: any log key and value either parse into records that
// decode, or give an error; nothing panics, and a chunk built from records
// yields them back.
func FuzzChunkRecords(f *testing.F) {
	r := rec(1)
	one := EncodeRecord(nil, &r)
	f.Add(chunkKey(1, 2), appendChunkRecord(appendChunkRecord(nil, one), one))
	f.Add(logKey(7), one)
	f.Add(chunkKey(255, 2), []byte{1, 2})
	f.Fuzz(func(t *testing.T, key, v []byte) {
		first, n, ok := parseLogKey(key)
		if !ok {
			return
		}
		if first>>blockBits != (first+uint64(n)-1)>>blockBits {
			t.Fatalf("key %x parsed as a chunk crossing a block", key)
		}
		var got [][]byte
		err := chunkRecords(key, v, n, func(i int, b []byte) (bool, error) {
			got = append(got, b)
			_, _ = decodeRecord(b, true)
			return true, nil
		})
		if err == nil && len(key) == chunkKeyLen {
			var rebuilt []byte
			for _, b := range got {
				rebuilt = appendChunkRecord(rebuilt, b)
			}
			if len(got) != n || string(rebuilt) != string(v) {
				t.Fatalf("chunk of %d records read as %d, or not rebuilt byte for byte", n, len(got))
			}
		}
	})
}

// TestFailedRecordsWrite: a records write that fails after storing part of
// its chunks (WriteEntries made to store the first and then fail) refuses
// the append; the offsets are given out again to the next appends, as
// chunks of other sizes, and neither a read nor a reopen finds a record of
// the failed append. The next group deletes the stale chunks in a
// transaction; without that, the reopened log resumed after the stale chunk
// (ghost records and a gap in what the later appends got).
func TestFailedRecordsWrite(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	appendN(t, l, 0, 5) // offsets 1-5
	fail := errors.New("injected write failure")
	l.writeEntries = func(es []*badger.Entry) error {
		if err := l.db.WriteEntries(es[:1]); err != nil {
			return err
		}
		return fail
	}
	recs := make([]Record, 300) // offsets 6-305: chunks of 250 (the block ends at 256) and 50
	for i := range recs {
		recs[i] = rec(1000 + i)
	}
	if _, err := l.Append(context.Background(), recs); !errors.Is(err, fail) {
		t.Fatalf("Append: %v, want the injected failure", err)
	}
	l.writeEntries = l.db.WriteEntries
	offs := appendN(t, l, 5, 10) // offsets 6-15 again, as one chunk of 10
	if offs[0] != 6 {
		t.Fatalf("after the failure the next offset is %d, want 6", offs[0])
	}
	appendN(t, l, 15, 3) // and the direct path again: 16-18
	check := func(l *Log) {
		t.Helper()
		if next := l.NextOffset(); next != 19 {
			t.Fatalf("next offset %d, want 19", next)
		}
		got, err := l.Read(context.Background(), 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 18 {
			t.Fatalf("read %d records, want 18", len(got))
		}
		for i, r := range got {
			if r.Offset != uint64(i+1) || string(r.Payload) != string(rec(i).Payload) {
				t.Fatalf("offset %d: %q, want offset %d %q", r.Offset, r.Payload, i+1, rec(i).Payload)
			}
		}
		for _, k := range chunkKeys(t, l) {
			if k[0]+k[1] > 19 {
				t.Fatalf("chunk %d+%d reaches past the log", k[0], k[1])
			}
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, nil)
	check(l)
}

package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2/z"
)

// outpost (OUTPOST.md): a value db.get found in a memtable stays readable
// after the memtable is gone. The arena is unmapped by the skiplist's last
// DecrRef, so a value that was a slice of it would fault.
func TestOutpostGetValueOutlivesMemtable(t *testing.T) {
	db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("value "), 20)
	if err := db.Update(func(txn *Txn) error { return txn.Set([]byte("key"), want) }); err != nil {
		t.Fatal(err)
	}
	vs, err := db.get(y.KeyWithTs([]byte("key"), math.MaxUint64))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vs.Value, want) {
		t.Fatalf("get: %q, want %q", vs.Value, want)
	}
	if err := db.Close(); err != nil { // flushes the memtable and frees its arena
		t.Fatal(err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("reading the value after its memtable was freed: %v", r)
			}
		}()
		if !bytes.Equal(vs.Value, want) {
			t.Fatalf("after close: %q, want %q", vs.Value, want)
		}
	}()
}

// outpost (OUTPOST.md, change 5): a StreamWriter with more open streams than
// the allocator pool lends at once (three, in Outpost's ristretto copy)
// writes them all. Each stream holds a table builder until Flush, and the
// builders came from the pool: the fourth stream's waited forever. Upstream's
// TestVerifyChecksum (ten streams) hung so.
func TestOutpostStreamWriterManyStreams(t *testing.T) {
	db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	const streams, perStream = 10, 50
	buf := z.NewBuffer(1<<20, "test")
	defer func() { _ = buf.Release() }()
	for s := 0; s < streams; s++ {
		for i := 0; i < perStream; i++ {
			key := binary.BigEndian.AppendUint64(nil, uint64(s*perStream+i))
			KVToBuffer(&pb.KV{Key: key, Value: []byte(fmt.Sprint("v", s, i)), StreamId: uint32(s), Version: 1}, buf)
		}
	}
	done := make(chan error, 1)
	go func() {
		sw := db.NewStreamWriter()
		if err := sw.Prepare(); err != nil {
			done <- err
			return
		}
		if err := sw.Write(buf); err != nil {
			done <- err
			return
		}
		done <- sw.Flush()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the StreamWriter of %d streams did not finish in a minute (waiting for a table builder?)", streams)
	}
	err = db.View(func(txn *Txn) error {
		for k := 0; k < streams*perStream; k++ {
			item, err := txn.Get(binary.BigEndian.AppendUint64(nil, uint64(k)))
			if err != nil {
				return fmt.Errorf("key %d: %w", k, err)
			}
			want := fmt.Sprint("v", k/perStream, k%perStream)
			if err := item.Value(func(v []byte) error {
				if string(v) != want {
					return fmt.Errorf("key %d: %q, want %q", k, v, want)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// outpost (OUTPOST.md, change 6): a WAL written with a bigger MemTableSize
// than the one the DB is reopened with is replayed in full. The image is what
// a crash leaves: the files copied while the first DB is open, its memtable
// unflushed. Upstream sized the replayed skiplist from the new options, and
// the replay panicked ("Arena too small").
func TestOutpostReplayWALOfBiggerMemtable(t *testing.T) {
	dir, image := t.TempDir(), t.TempDir()
	db, err := Open(DefaultOptions(dir).WithLogger(nil).WithMemTableSize(4 << 20).WithValueThreshold(1 << 10).WithValueLogFileSize(16 << 20))
	if err != nil {
		t.Fatal(err)
	}
	const n, perTxn = 12000, 500
	val := func(i int) []byte { return fmt.Appendf(nil, "%08d %s", i, bytes.Repeat([]byte("v"), 90)) }
	for i := 0; i < n; i += perTxn {
		wb := db.NewWriteBatch()
		for j := i; j < i+perTxn; j++ {
			if err := wb.Set(fmt.Appendf(nil, "key-%08d", j), val(j)); err != nil {
				t.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	opt := DefaultOptions(image).WithLogger(nil).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10).WithValueLogFileSize(16 << 20)
	if used := db.mt.sl.MemSize(); used <= arenaSize(opt) {
		t.Fatalf("the memtable holds %d bytes, which fit the smaller arena (%d): the test proves nothing", used, arenaSize(opt))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wal int64
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(e.Name(), ".sst") {
			t.Fatalf("%s: the memtable was flushed, so nothing is left to replay", e.Name())
		}
		if strings.HasSuffix(e.Name(), memFileExt) {
			wal += int64(len(b))
		}
		if err := os.WriteFile(filepath.Join(image, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	err = db2.View(func(txn *Txn) error {
		for i := 0; i < n; i++ {
			item, err := txn.Get(fmt.Appendf(nil, "key-%08d", i))
			if err != nil {
				return fmt.Errorf("key %d: %w", i, err)
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(v, val(i)) {
				return fmt.Errorf("key %d: %q", i, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after replaying %d bytes of WAL: %v", wal, err)
	}
}

// outpost (OUTPOST.md, change 7): WriteEntries' entries are read by
// transactions that start after it returns, by iterators, after a flush to
// tables and after a reopen that replays the WAL; a fresh DB's first write
// goes through a Txn; writes race with Txn commits and with a DropPrefix
// (which blocks writes) without loss; after Close it refuses.
func TestOutpostWriteEntries(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions(dir).WithLogger(nil).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10)
	db, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	key := func(prefix string, i int) []byte { return []byte(fmt.Sprintf("%s%06d", prefix, i)) }
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i%50) }
	write := func(prefix string, from, n int) {
		t.Helper()
		var es []*Entry
		for i := from; i < from+n; i++ {
			es = append(es, NewEntry(key(prefix, i), val(i)))
		}
		if err := db.WriteEntries(es); err != nil {
			t.Fatalf("WriteEntries %s%d: %v", prefix, from, err)
		}
	}
	check := func(db *DB, prefix string, n int) {
		t.Helper()
		err := db.View(func(txn *Txn) error {
			for _, i := range []int{0, n / 2, n - 1} {
				it, err := txn.Get(key(prefix, i))
				if err != nil {
					return fmt.Errorf("get %s: %w", key(prefix, i), err)
				}
				if v, _ := it.ValueCopy(nil); !bytes.Equal(v, val(i)) {
					return fmt.Errorf("get %s: wrong value", key(prefix, i))
				}
			}
			it := txn.NewIterator(IteratorOptions{Prefix: []byte(prefix)})
			defer it.Close()
			i := 0
			for it.Rewind(); it.Valid(); it.Next() {
				if !bytes.Equal(it.Item().Key(), key(prefix, i)) {
					return fmt.Errorf("iterator: %s at %d", it.Item().Key(), i)
				}
				i++
			}
			if i != n {
				return fmt.Errorf("iterator: %d keys of %s, want %d", i, prefix, n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	if got := db.orc.nextTs(); got != 1 {
		t.Fatalf("fresh DB: next ts %d", got)
	}
	write("a", 0, 10) // no commit yet: a Txn
	if got := db.orc.nextTs(); got != 2 {
		t.Fatalf("after the first write: next ts %d, want 2 (committed in a Txn)", got)
	}
	for i := 10; i < 5000; i += 70 {
		write("a", i, min(70, 5000-i))
	}
	check(db, "a", 5000)

	// Concurrent Txn commits of other keys and a DropPrefix of a third prefix.
	errc := make(chan error, 2)
	go func() {
		for i := 0; i < 300; {
			switch err := db.Update(func(txn *Txn) error { return txn.Set(key("t", i), val(i)) }); {
			case err == nil:
				i++
			case errors.Is(err, ErrBlockedWrites):
				time.Sleep(time.Millisecond)
			default:
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() {
		for i := 0; i < 5; i++ {
			if err := db.DropPrefix([]byte("z")); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := 5000; i < 20000; {
		var es []*Entry
		for j := i; j < i+50; j++ {
			es = append(es, NewEntry(key("a", j), val(j)))
		}
		switch err := db.WriteEntries(es); {
		case err == nil:
			i += 50
		case errors.Is(err, ErrBlockedWrites): // a DropPrefix runs: try again
			time.Sleep(time.Millisecond)
		default:
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	check(db, "a", 20000) // 2 MB through 1 MiB memtables: flushed to tables too
	check(db, "t", 300)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteEntries([]*Entry{NewEntry([]byte("late"), []byte("x"))}); !errors.Is(err, ErrBlockedWrites) {
		t.Fatalf("after Close: %v, want ErrBlockedWrites", err)
	}

	db, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db, "a", 20000)
	check(db, "t", 300)
	write("a", 20000, 5) // a reopened DB has commits: no Txn
	check(db, "a", 20005)
}

// upstreamEncodeEntry is v4.9.6's logFile.encodeEntry: the entry's bytes in
// a log file, appended to buf.
func upstreamEncodeEntry(lf *logFile, buf *bytes.Buffer, e *Entry, offset uint32) int {
	h := header{klen: uint32(len(e.Key)), vlen: uint32(len(e.Value)), expiresAt: e.ExpiresAt, meta: e.meta, userMeta: e.UserMeta}
	hash := crc32.New(y.CastagnoliCrcTable)
	w := io.MultiWriter(buf, hash)
	var he [maxHeaderSize]byte
	sz := h.Encode(he[:])
	y.Check2(w.Write(he[:sz]))
	if lf.encryptionEnabled() {
		kv := append(append([]byte{}, e.Key...), e.Value...)
		y.Check(y.XORBlockStream(w, kv, lf.dataKey.Data, lf.generateIV(offset)))
	} else {
		y.Check2(w.Write(e.Key))
		y.Check2(w.Write(e.Value))
	}
	var c [crc32.Size]byte
	binary.BigEndian.PutUint32(c[:], hash.Sum32())
	y.Check2(buf.Write(c[:]))
	return sz + len(e.Key) + len(e.Value) + len(c)
}

// outpost (OUTPOST.md change 10): the value log's entries, written with
// pwritev (or, encrypted, from a buffer) instead of copied into the mapping,
// are upstream's bytes at the offsets of their pointers, packed one after
// the other, across a rotation to a new file; they read back through the
// mapping with their checksums verified, before and after a reopen.
func TestOutpostValueLogWritesUpstreamBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			opts := DefaultOptions(t.TempDir()).WithLogger(nil).WithValueThreshold(32).
				WithValueLogFileSize(4 << 20).WithVerifyValueChecksum(true)
			if encrypted {
				key := make([]byte, 32)
				rng.Read(key)
				opts = opts.WithEncryptionKey(key).WithIndexCacheSize(1 << 20)
			}
			db, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			type written struct {
				e  *Entry
				vp valuePointer
			}
			var all []written
			for i := range 60 {
				var b request
				for j := range 1 + rng.Intn(4) {
					e := &Entry{
						Key:      y.KeyWithTs([]byte(fmt.Sprintf("k%d-%d", i, j)), 1),
						Value:    make([]byte, 40+rng.Intn(300<<10)),
						UserMeta: byte(rng.Intn(256)),
						meta:     bitValuePointer,
					}
					rng.Read(e.Value)
					b.Entries = append(b.Entries, e)
				}
				if err := db.vlog.write([]*request{&b}); err != nil {
					t.Fatal(err)
				}
				for j, e := range b.Entries {
					all = append(all, written{e, b.Ptrs[j]})
				}
			}
			fids := map[uint32]bool{}
			var want bytes.Buffer
			for i, w := range all {
				fids[w.vp.Fid] = true
				if i > 0 && all[i-1].vp.Fid == w.vp.Fid && all[i-1].vp.Offset+all[i-1].vp.Len != w.vp.Offset {
					t.Fatalf("entry %d at %d, the one before ends at %d", i, w.vp.Offset, all[i-1].vp.Offset+all[i-1].vp.Len)
				}
				lf := db.vlog.filesMap[w.vp.Fid]
				want.Reset()
				if n := upstreamEncodeEntry(lf, &want, w.e, w.vp.Offset); n != int(w.vp.Len) {
					t.Fatalf("entry %d: pointer length %d, upstream's %d", i, w.vp.Len, n)
				}
				got := make([]byte, w.vp.Len)
				if _, err := lf.Fd.ReadAt(got, int64(w.vp.Offset)); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("entry %d: the file's bytes are not upstream's", i)
				}
			}
			if len(fids) < 2 {
				t.Fatalf("%d entries in %d value log file: want a rotation", len(all), len(fids))
			}
			check := func(db *DB) {
				t.Helper()
				for i, w := range all {
					v, cb, err := db.vlog.Read(w.vp, nil)
					if err != nil {
						t.Fatalf("entry %d: %v", i, err)
					}
					if !bytes.Equal(v, w.e.Value) {
						t.Fatalf("entry %d: value read back differs", i)
					}
					runCallback(cb)
				}
			}
			check(db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = Open(opts); err != nil {
				t.Fatal(err)
			}
			check(db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// outpost (OUTPOST.md change 9): encodeEntry writes the same bytes as
// upstream's, which wrote through io.MultiWriter(buf, crc32.New(...)), at
// any offset of buf, with and without encryption, and returns the same
// length.
func TestOutpostEncodeEntryMatchesUpstream(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	key, iv := make([]byte, 32), make([]byte, 12)
	rng.Read(key)
	rng.Read(iv)
	for _, lf := range []*logFile{{}, {dataKey: &pb.DataKey{Data: key}, baseIV: iv}} {
		var got, want bytes.Buffer
		for i := range 2000 {
			e := &Entry{
				Key:       y.KeyWithTs([]byte(fmt.Sprintf("key-%d", rng.Intn(1<<20))), rng.Uint64()),
				Value:     make([]byte, rng.Intn(3000)),
				ExpiresAt: uint64(rng.Intn(2)) * rng.Uint64(),
				meta:      byte(rng.Intn(256)),
				UserMeta:  byte(rng.Intn(256)),
			}
			rng.Read(e.Value)
			if i%100 == 0 { // entries at every offset of a buffer, as a batch encodes them
				got.Reset()
				want.Reset()
			}
			offset := uint32(rng.Intn(1 << 30))
			n, err := lf.encodeEntry(&got, e, offset)
			if err != nil {
				t.Fatal(err)
			}
			if m := upstreamEncodeEntry(lf, &want, e, offset); n != m || !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("encrypted %v, entry %d: %d bytes, upstream %d; buffers equal: %v",
					lf.encryptionEnabled(), i, n, m, bytes.Equal(got.Bytes(), want.Bytes()))
			}
		}
	}
}

// outpost (OUTPOST.md change 9): the value log sends its value sizes to the
// dynamic threshold only with VLogPercentile set, and the threshold still
// follows them then; without it the threshold stays where it was set.
func TestOutpostValueThresholdOnlyWhenDynamic(t *testing.T) {
	for _, percentile := range []float64{0, 0.99} {
		db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil).WithValueThreshold(32).WithVLogPercentile(percentile))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2000 {
			b := &request{Entries: []*Entry{{Key: y.KeyWithTs([]byte(fmt.Sprintf("k%d", i)), 1), Value: make([]byte, 500), meta: bitValuePointer}}}
			if err := db.vlog.write([]*request{b}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for percentile > 0 && db.valueThreshold() == 32 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		got := db.valueThreshold()
		if percentile == 0 && got != 32 || percentile > 0 && got <= 32 {
			t.Errorf("percentile %v: threshold %d after 2,000 values of 500 bytes (set: 32)", percentile, got)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// outpost (OUTPOST.md, change 7): a subscriber gets what WriteEntries
// writes. WriteEntries hands writeRequests a slice it reuses (and clears
// once the write returns); the publisher got that slice, and its goroutine
// then found the request gone and panicked on a nil *request.
func TestOutpostWriteEntriesReachSubscribers(t *testing.T) {
	db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.WriteEntries([]*Entry{NewEntry([]byte("first"), []byte("x"))}); err != nil {
		t.Fatal(err) // a fresh DB's first write goes through a Txn
	}
	got := make(chan string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- db.Subscribe(ctx, func(kvs *pb.KVList) error {
			for _, kv := range kvs.Kv {
				got <- string(kv.Key) + "=" + string(kv.Value)
			}
			return nil
		}, []pb.Match{{Prefix: []byte("k")}})
	}()
	for subscribed := false; !subscribed; time.Sleep(time.Millisecond) {
		db.pub.Lock()
		subscribed = len(db.pub.subscribers) > 0
		db.pub.Unlock()
	}
	const n = 50
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k%02d", i)
		if err := db.WriteEntries([]*Entry{NewEntry([]byte(k), []byte(k))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case kv := <-got:
			if want := fmt.Sprintf("k%02d=k%02d", i, i); kv != want {
				t.Fatalf("update %d: %s, want %s", i, kv, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d updates arrived", i, n)
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestOutpostMaxVersionDuringWrites: the value-log GC reads MaxVersion while
// writes go on (rewrite's gcDiscardTs); a memtable's maxVersion was a plain
// uint64 written by the writer without db.lock, which the race detector
// caught in Outpost's storage tests (change 14). scripts/test-badger.sh runs
// it with -race, which reports the race without the atomic. The versions
// MaxVersion returns never decrease.
func TestOutpostMaxVersionDuringWrites(t *testing.T) {
	db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.WriteEntries([]*Entry{NewEntry([]byte("first"), []byte("x"))}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	bad := make(chan string, 1)
	var reads atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			v := db.MaxVersion()
			if v < last {
				bad <- fmt.Sprintf("MaxVersion went from %d to %d", last, v)
				return
			}
			last = v
			reads.Add(1)
		}
	}()
	// Write until the reader has read often enough to meet the writes. A
	// transaction's commit moves the version on, so that the next write's
	// entries raise the memtable's maxVersion (WriteEntries' take the newest
	// commit's: alone they would raise it once).
	for i := 0; i < 500 || reads.Load() < 1000; i++ {
		if err := db.Update(func(txn *Txn) error { return txn.Set([]byte("txn"), []byte("v")) }); err != nil {
			t.Fatal(err)
		}
		if err := db.WriteEntries([]*Entry{NewEntry([]byte(fmt.Sprintf("k%06d", i)), []byte("v"))}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case msg := <-bad:
		t.Fatal(msg)
	default:
	}
	if v := db.MaxVersion(); v == 0 {
		t.Fatal("MaxVersion 0 after the writes")
	}
}

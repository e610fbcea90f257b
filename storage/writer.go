package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// request is one unit of work for the writer goroutine: records to append
// and/or key writes. The writer fills first/err and closes done.
type request struct {
	vals [][]byte // encoded records; the writer stamps offset and time
	// frames are, for the records of more than maxChunkBytes (nil for the
	// others, or all nil), the record with its chunk length prefix in front:
	// a chunk value of its own, written from buf, not copied into a chunk.
	frames [][]byte
	framed int64 // the bytes of the framed records, out of bytes
	ops    []op  // other key writes, applied in the same transaction
	sync   bool  // fsync mode must sync before done (appends and KV writes)
	size   int64 // Badger's transaction size estimate
	count  int64 // Badger entries
	bytes  int64 // stored bytes the records add (keys + values)

	// Retention deletes: when setFirst > 0 the meta first key and the
	// published first offset move there and dropBytes leave the byte count.
	setFirst  uint64
	dropBytes int64

	first uint64
	err   error
	done  chan struct{} // newDone: the writer sends one token when it is done with the request

	buf []byte // Append's encoding buffer, kept with a pooled request
}

// newDone is a request's done channel. The writer sends on it, once, instead
// of closing it, so that a request, channel included, can be used again.
func newDone() chan struct{} { return make(chan struct{}, 1) }

// requests recycles Append's requests: one per publish otherwise, with its
// channel, record slices and encoding buffer. A request goes back only after
// its caller received the writer's token: the writer no longer touches it.
var requests = sync.Pool{New: func() any { return &request{done: newDone()} }}

// framePad is the room Append leaves before each record for the length
// prefix of a chunk (a uvarint of a length that fits in 32 bits), so a large
// record becomes a chunk value of its own in place.
const framePad = binary.MaxVarintLen32

// maxPooledBuf bounds the encoding buffer a pooled request keeps: room for
// a record of the largest packet a client may send by default (1 MiB), or a
// client's batch of pending appends (max_pending_bytes, 1 MiB). With 64 KiB,
// every Append of a large record allocated and cleared its buffer, 12% of the
// node's CPU with four publishers of 256 KiB messages, and the collector
// gave the memory back to the kernel (madvise) for the next one to fault in.
const maxPooledBuf = 2 << 20

func (r *request) recycle() {
	clear(r.vals)
	clear(r.frames)
	buf := r.buf
	if cap(buf) > maxPooledBuf {
		buf = nil
	}
	*r = request{vals: r.vals[:0], frames: r.frames[:0], done: r.done, buf: buf[:0]}
	requests.Put(r)
}

type op struct {
	key, val []byte
	del      bool
}

func (r *request) add(key, val []byte, threshold int64) {
	v := int64(len(val))
	if v >= threshold {
		v = 12 // value pointer
	}
	r.size += int64(len(key)) + v + 16
	r.count++
}

// Append appends recs and returns their offsets: contiguous, strictly
// increasing, continuing the log without gaps. It stamps Offset, Time (ingest
// time, never decreasing) and Origin (Options.NodeID when empty) on the stored
// copies; recs itself is not modified. Concurrent callers are group-committed
// by one writer goroutine into one Badger transaction and at most one fsync.
//
// Append returns when the records are durable per Options.Durability. On
// ErrFull or ErrTooLarge nothing was appended. If ctx ends while waiting,
// Append returns ctx.Err() but the records may still be appended.
func (l *Log) Append(ctx context.Context, recs []Record) ([]uint64, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	req := requests.Get().(*request)
	req.vals, req.sync = slices.Grow(req.vals[:0], len(recs))[:len(recs)], true
	size := 0
	for i := range recs {
		size += encodedSize(&recs[i]) + framePad
	}
	buf := slices.Grow(req.buf[:0], size)
	for i := range recs {
		r := recs[i]
		r.Offset, r.Time = 0, time.Time{}
		if r.Origin == "" {
			r.Origin = l.opts.NodeID
		}
		buf = buf[:len(buf)+framePad] // room for a chunk length prefix
		start := len(buf)
		buf = EncodeRecord(buf, &r)
		v := buf[start:len(buf):len(buf)]
		req.vals[i] = v
		req.add(logKey(0), v, l.prof.valueThreshold)
		req.bytes += 9 + int64(len(v))
		if len(v) > maxChunkBytes {
			if len(req.frames) == 0 {
				req.frames = slices.Grow(req.frames[:0], len(recs))[:len(recs)]
				clear(req.frames)
			}
			k := uvarintLen(uint64(len(v)))
			binary.PutUvarint(buf[start-k:start], uint64(len(v)))
			req.frames[i] = buf[start-k : len(buf) : len(buf)]
			req.framed += 9 + int64(len(v))
		}
	}
	req.buf = buf
	if err := l.submit(ctx, req); err != nil {
		return nil, err // not recycled: the writer may still hold it
	}
	offs := make([]uint64, len(recs))
	for i := range offs {
		offs[i] = req.first + uint64(i)
	}
	req.recycle()
	return offs, nil
}

// submit queues req for the writer and waits for its outcome.
func (l *Log) submit(ctx context.Context, req *request) error {
	if req.size > l.db.MaxBatchSize()*9/10 || req.count >= l.db.MaxBatchCount()-1 {
		return ErrTooLarge
	}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case l.reqs <- req:
		l.closeMu.RUnlock()
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-req.done:
		return req.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the single goroutine that writes to Badger, which keeps
// offsets gapless and makes one group commit one Badger transaction. In
// fsync mode it hands each committed group to a syncer goroutine it owns and
// goes on committing the next group while the previous one is fsynced; the
// syncer covers every group committed since its last sync with one fsync,
// then publishes them in order and releases their callers. Records become
// visible to readers only once durable, so no consumer forwards an offset
// that a power loss could reassign.
type writer struct {
	l        *Log
	next     uint64 // offset for the next record; only the writer touches it
	lastTime int64
	maxSize  int64
	maxCount int64
	dirty    atomic.Bool   // batch mode: writes since the last sync
	stopSync chan struct{} // batch mode: closed to stop runBatchSyncer
	syncq    chan batch    // fsync mode: committed groups waiting for their sync
	zero     zeroAhead     // fsync mode: the syncer's WAL zero-ahead switch
	// stale holds the chunk keys of records writes that failed, which may
	// have stored some of them: the next group goes in one transaction that
	// deletes them first (commit). A set: while writes keep failing, the
	// same offsets are tried again and again.
	stale map[string]struct{}
	// chunks is the chunk arena of the last group, kept for the next
	// (keepChunks): a group's records were otherwise one more allocation of
	// their size, all the data the log takes passing through the Go heap.
	chunks []byte

	// The last free-space reading (lowSpace).
	free      int64
	freeAt    time.Time
	sinceFree int64
}

// batch is one committed group on its way to being published.
type batch struct {
	group    []*request
	next     uint64 // log next offset after the group
	added    int64
	now      int64
	needSync bool
	vlog     bool // a value went to Badger's value log
}

func newWriter(l *Log) *writer {
	w := &writer{
		l: l, next: l.next, lastTime: l.lastTime,
		maxSize: l.db.MaxBatchSize() * 9 / 10, maxCount: l.db.MaxBatchCount() - 1,
	}
	switch l.opts.Durability {
	case DurabilityFsync:
		w.syncq = make(chan batch, 16)
		w.zero.start(l.db, walFS(l.dir))
	case DurabilityBatch:
		w.stopSync = make(chan struct{})
	}
	return w
}

func (w *writer) run() {
	defer w.l.wg.Done()
	syncerDone := make(chan struct{})
	switch {
	case w.syncq != nil:
		go w.runSyncer(syncerDone)
	case w.stopSync != nil:
		go w.runBatchSyncer(syncerDone)
	default:
		close(syncerDone)
	}
	var carry *request
	for {
		first := carry
		carry = nil
		if first == nil {
			r, ok := <-w.l.reqs
			if !ok {
				w.shutdown(syncerDone)
				return
			}
			first = r
		}
		group := make([]*request, 1, 8) // one allocation for a group of up to 8, not one per doubling
		group[0] = first
		size, count := first.size, first.count
		yielded := false
	gather:
		for size < w.maxSize {
			select {
			case r, ok := <-w.l.reqs:
				if !ok {
					break gather // the next receive sees the closed channel again
				}
				if size+r.size > w.maxSize || count+r.count > w.maxCount {
					carry = r
					break gather
				}
				group = append(group, r)
				size += r.size
				count += r.count
			default:
				if yielded {
					break gather
				}
				// Nothing more queued: let the goroutines that are ready to run go
				// first, once. Appenders among them (other clients' pipelines) join
				// this group instead of paying a commit each; Gosched returns at once
				// when nobody else is ready. Measured with 10 QoS 1 publishers that
				// wait for each ack: 1.85 -> 3.1 records per commit, CPU per message
				// -5%, +4.5% msg/s (+7.6% in fsync mode).
				yielded = true
				runtime.Gosched()
			}
		}
		w.commit(group)
	}
}

// shutdown persists dirty cursors, waits for the syncer and makes
// everything durable before Close closes Badger.
func (w *writer) shutdown(syncerDone <-chan struct{}) {
	w.commit(nil)
	if w.syncq != nil {
		close(w.syncq)
	}
	if w.stopSync != nil {
		close(w.stopSync)
	}
	<-syncerDone
	if w.l.opts.Durability != DurabilityNone {
		if err := w.l.syncAll(); err != nil {
			w.l.log.Error().Err(err).Msg("final sync")
		}
	}
}

// runBatchSyncer syncs the log every sync_interval while commits made it
// dirty (batch mode). It runs beside the writer, so commits go on while a
// sync writes: a sync that writes back megabytes of value log took tens of
// milliseconds, and the writer that made it stalled every appender.
func (w *writer) runBatchSyncer(done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(w.l.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stopSync:
			return
		case <-t.C:
			w.syncIfDirty()
		}
	}
}

func (w *writer) syncIfDirty() {
	if !w.dirty.Swap(false) {
		return
	}
	if err := w.l.syncAll(); err != nil {
		w.dirty.Store(true)
		w.l.log.Error().Err(err).Msg("periodic sync")
		return
	}
	w.l.st.syncs.Add(1)
}

// runSyncer fsyncs committed groups, publishes them in order and releases
// their callers. One fsync covers every group queued when it starts.
//
// It waits a little for more groups when the one it has covers fewer
// callers than its previous fsync released: appenders that each wait for
// their append, say devices that wait for every PUBACK, otherwise fall
// into cohorts that take turns at the disk (one fsync releases half of
// them while the other half waits for the next), so each fsync covered
// about 4 of 10 such publishers. The wait ends when as many callers are
// covered as last time, or after as long as the previous fsync took (at
// most maxGather); a lone appender never waits. Measured with 10 QoS 1
// publishers waiting for each ack: 5.0k -> 6.3k msg/s, 3.8 -> 6.0
// records per fsync, and 1-3 such publishers' p99 latency fell too.
func (w *writer) runSyncer(done chan<- struct{}) {
	defer close(done)
	var (
		prev   int           // callers the previous fsync released
		took   time.Duration // how long the previous fsync took
		gather *time.Timer
	)
	for b := range w.syncq {
		batches, open := drainSyncq(w.syncq, []batch{b})
		n := syncCallers(batches)
		if open && n < prev && took > 0 {
			if gather == nil {
				gather = time.NewTimer(min(took, maxGather))
			} else {
				gather.Reset(min(took, maxGather)) // Go 1.23+: no stale tick after Stop
			}
		wait:
			for n < prev {
				select {
				case b2, ok := <-w.syncq:
					if !ok {
						break wait
					}
					batches = append(batches, b2)
					n += syncCallers(batches[len(batches)-1:])
				case <-gather.C:
					break wait
				}
			}
			gather.Stop()
		}
		var err error
		for _, b := range batches {
			if b.needSync {
				start := time.Now()
				if err = w.l.syncAll(); err == nil {
					w.l.st.syncs.Add(1)
					w.zero.synced(w.l.db, batches)
				} else {
					err = fmt.Errorf("sync: %w", mapErr(err))
				}
				took = time.Since(start)
				break
			}
		}
		prev = n
		for _, b := range batches {
			w.publish(b) // on a sync error the records are written but not durable: offsets are used
			w.finish(b.group, err)
		}
	}
}

// maxGather bounds how long the syncer waits for more groups (runSyncer).
const maxGather = 2 * time.Millisecond

// drainSyncq appends to batches what q holds now, without waiting, and
// reports whether q is still open.
func drainSyncq(q <-chan batch, batches []batch) ([]batch, bool) {
	for {
		select {
		case b, ok := <-q:
			if !ok {
				return batches, false
			}
			batches = append(batches, b)
		default:
			return batches, true
		}
	}
}

// syncCallers counts the callers in batches that wait for an fsync.
func syncCallers(batches []batch) int {
	n := 0
	for _, b := range batches {
		for _, r := range b.group {
			if r.sync {
				n++
			}
		}
	}
	return n
}

// syncAll makes every committed write durable. Records and small values
// live in the memtable's WAL file (.mem), bigger ones in the value log.
// Badger's Sync covers the active memtable's WAL and the value log, and
// fsyncing each memtable WAL file also covers a memtable that was rotated
// out but not yet flushed to a table (a WAL deleted meanwhile has been
// flushed to a synced table). A rotated WAL takes no more writes, so one
// fsync after its rotation covers it: the directory is listed only when
// l.wal saw a WAL created since the last listing. Between rotations, and
// while no commit wrote to the value log, an fdatasync of the active WAL
// is enough: Badger's Sync also msyncs the value log's 32 MiB mapping, a
// third of each sync's time when nothing in it changed. Called by one
// goroutine at a time (the syncer in fsync mode, runBatchSyncer in batch
// mode, then shutdown).
func (l *Log) syncAll() error {
	if l.opts.beforeSync != nil {
		l.opts.beforeSync()
	}
	start := time.Now()
	defer func() { l.st.syncNanos.Add(uint64(time.Since(start))) }()
	rotated := l.wal.rotated()
	if vlog := l.vlogDirty.Swap(false); vlog || rotated || l.activeWAL == nil {
		if err := l.db.Sync(); err != nil {
			if vlog {
				l.vlogDirty.Store(true)
			}
			return err
		}
	} else {
		if err := fdatasync(l.activeWAL); err != nil {
			return err
		}
		l.st.walSyncs.Add(1)
	}
	if !rotated {
		return nil
	}
	l.st.walScans.Add(1)
	if err := l.syncRotatedWALs(); err != nil {
		return err
	}
	l.wal.listed()
	return nil
}

// syncRotatedWALs fsyncs every memtable WAL but the newest when there are
// several, and keeps the newest, the active one, open as l.activeWAL.
func (l *Log) syncRotatedWALs() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var mems []string
	newest, newestFid := "", uint64(0)
	for _, e := range entries {
		fid, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), ".mem"), 10, 64)
		if !strings.HasSuffix(e.Name(), ".mem") || err != nil {
			continue
		}
		path := filepath.Join(l.dir, e.Name())
		mems = append(mems, path)
		if newest == "" || fid > newestFid {
			newest, newestFid = path, fid
		}
	}
	if l.activeWAL != nil {
		_ = l.activeWAL.Close()
		l.activeWAL = nil
	}
	if newest != "" {
		f, err := os.Open(newest)
		if err != nil {
			return err // activeWAL stays nil: the next sync goes through Badger and lists again
		}
		l.activeWAL = f
	}
	if len(mems) <= 1 {
		return nil // the newest was synced with Badger's Sync
	}
	for _, m := range mems {
		if m == newest {
			continue
		}
		f, err := os.Open(m)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		err = f.Sync()
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// commit writes one group, then publishes it and releases the callers (batch
// and none modes) or queues it for the syncer (fsync mode).
//
// The records go to Badger with DB.WriteEntries (change 7 of Outpost's copy),
// in this goroutine and outside a transaction: a record's key is written once
// and never overwritten, so it needs no commit timestamp of its own. A
// transaction's commit cost two goroutine hand-offs (Badger's write
// goroutine, and the goroutine it starts per write) plus two messages to the
// oracle's watermark goroutine, a transaction marker entry and about nine
// allocations per group. The group's other writes (key-value operations,
// retention's deletes, cursors) follow in one transaction.
//
// A failed WriteEntries may have stored some of its chunks (in practice it
// fails before the memtable, on a value log or WAL file it cannot create, but
// nothing promises so): their offsets are given out again, to chunks of other
// sizes, so other keys. The next group then goes in one transaction that
// deletes those keys first, at a newer version than theirs, and writes its
// records in the same transaction.
func (w *writer) commit(group []*request) {
	l := w.l
	w.admit(group)
	now := time.Now().UnixNano()
	if now < w.lastTime {
		now = w.lastTime
	}
	b := batch{group: group, next: w.next, now: now}
	for _, r := range group {
		b.needSync = b.needSync || (r.err == nil && r.sync) // admit refused the others
	}
	var cursors []string
	var err error
	if w.stale != nil {
		if cursors, err = w.commitTxn(&b, group, true); err == nil {
			w.stale = nil
		} else {
			w.addStale(group)
		}
	} else {
		if err = w.writeRecords(&b, group); err != nil {
			w.addStale(group)
		} else if cursors, err = w.commitTxn(&b, group, false); err != nil {
			// The records are stored: only the other writes failed.
			l.redirty(cursors)
			err = fmt.Errorf("commit: %w", mapErr(err))
			for _, r := range group {
				if r.err == nil && len(r.vals) == 0 {
					r.err = err
				}
			}
			err = nil
		}
	}
	if err != nil {
		l.redirty(cursors)
		w.finish(group, fmt.Errorf("commit: %w", mapErr(err)))
		return
	}
	if b.vlog {
		l.vlogDirty.Store(true) // after the commit: the next syncAll's Badger sync covers the write
	}
	if b.next > w.next {
		w.lastTime = now
	}
	w.next = b.next
	if w.syncq != nil {
		w.syncq <- b
		return
	}
	w.publish(b)
	w.finish(group, nil)
	if l.opts.Durability == DurabilityBatch {
		w.dirty.Store(true)
	}
}

// writeRecords stamps the group's records with their offsets and ingest
// time, packs them into chunks and writes the chunks with WriteEntries.
func (w *writer) writeRecords(b *batch, group []*request) error {
	ck := w.newChunker(b, group, nil)
	for _, r := range group {
		if r.err != nil || len(r.vals) == 0 {
			continue
		}
		r.first = b.next
		for i, v := range r.vals {
			stamp(v, b.next, b.now)
			_ = ck.add(v, r.frame(i)) // without a transaction add cannot fail
		}
	}
	_ = ck.flush()
	if len(ck.entries) == 0 {
		return nil
	}
	defer w.keepChunks(ck)
	return w.l.writeEntries(ck.entries)
}

// addStale adds to stale the chunk keys of a failed records write of group,
// whose first record had the offset w.next. The keys WriteEntries got carry
// a version suffix by now: the chunks are cut again from the group's
// requests, as writeRecords and commitTxn cut them.
func (w *writer) addStale(group []*request) {
	b := batch{next: w.next}
	ck := chunker{b: &b}
	for _, r := range group {
		if r.err != nil {
			continue
		}
		for i, v := range r.vals {
			_ = ck.add(v, r.frame(i))
		}
	}
	_ = ck.flush()
	if w.stale == nil {
		w.stale = make(map[string]struct{}, len(ck.entries))
	}
	for _, e := range ck.entries {
		w.stale[string(e.Key)] = struct{}{}
	}
}

// commitTxn writes the group's other writes in one transaction with the
// dirty cursors, and its records too when records is set, and returns the
// cursors it wrote. A group of appends alone, while no cursor moved, opens
// no transaction: a Badger transaction sends its start and end to the
// oracle's watermark goroutine even when it writes nothing.
func (w *writer) commitTxn(b *batch, group []*request, records bool) ([]string, error) {
	l := w.l
	if !records && len(w.stale) == 0 && !l.cursorsDirty() && !slices.ContainsFunc(group, func(r *request) bool {
		return r.err == nil && (len(r.ops) > 0 || r.setFirst > 0)
	}) {
		return nil, nil
	}
	txn := l.db.NewTransaction(true)
	defer txn.Discard()
	var ck *chunker
	if records {
		ck = w.newChunker(b, group, txn)
		defer w.keepChunks(ck) // reused by the next group, after this transaction is discarded
	}
	var err error
	for k := range w.stale { // before the records: a key written again is Set after its Delete
		if err = txn.Delete([]byte(k)); err != nil {
			break
		}
	}
	for _, r := range group {
		if err != nil {
			break
		}
		if r.err != nil {
			continue
		}
		if records && len(r.vals) > 0 {
			r.first = b.next
			for i, v := range r.vals {
				stamp(v, b.next, b.now)
				if err = ck.add(v, r.frame(i)); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = applyOps(txn, r)
		}
		for _, o := range r.ops {
			b.vlog = b.vlog || len(o.val) >= l.vlogThreshold
		}
		if err != nil {
			break
		}
	}
	if err == nil && records {
		err = ck.flush()
	}
	cursors := w.cursorOps(txn, &err)
	if err == nil {
		err = txn.Commit()
	}
	return cursors, err
}

func (w *writer) newChunker(b *batch, group []*request, txn *badger.Txn) *chunker {
	size := 0
	for _, r := range group {
		size += int(r.bytes - r.framed) // 9 bytes of key per record: room for each length prefix
	}
	arena := w.chunks[:0]
	if cap(arena) < size {
		arena = make([]byte, 0, size)
	}
	return &chunker{txn: txn, b: b, arena: arena, vlogAt: w.l.vlogThreshold}
}

// maxKeptChunks bounds the chunk arena the writer keeps between commits: a
// group of appends with pi's 2 MiB memtables is at most about 280 KB.
const maxKeptChunks = 512 << 10

// keepChunks keeps ck's arena for the next group's chunks. Once a write
// returned, Badger holds no reference to the values it wrote: WriteEntries and
// a transaction's commit have copied them into the WAL, the memtable's arena
// and, past the value threshold, the value log. (Badger's Subscribe would keep
// them a while longer; the log does not use it.)
func (w *writer) keepChunks(ck *chunker) {
	if cap(ck.arena) <= maxKeptChunks {
		w.chunks = ck.arena[:0]
	}
}

// chunker packs the records of one group commit into chunks (chunk.go): a
// chunk ends at the group's end, at every block boundary, and before it
// would pass maxChunkBytes.
type chunker struct {
	txn     *badger.Txn // the chunks go to txn, or to entries when txn is nil
	entries []*badger.Entry
	b       *batch
	arena   []byte // every chunk's value, one after the other
	start   int    // where the open chunk begins in arena
	first   uint64 // the open chunk's first offset
	n       int    // records in the open chunk
	// vlogAt is Badger's value threshold: a chunk this big goes to the
	// value log.
	vlogAt int
}

// add appends the record stamped with offset b.next and advances b.next. A
// record with a frame (more than maxChunkBytes: a chunk of its own, as it
// would be cut anyway) is written as its frame, not copied into the arena.
func (c *chunker) add(rec, frame []byte) error {
	if frame != nil {
		if err := c.flush(); err != nil {
			return err
		}
		k := chunkKey(c.b.next, 1)
		c.b.next++
		return c.put(k, frame)
	}
	if c.n > 0 && (c.b.next%maxChunk == 0 || len(c.arena)-c.start+len(rec) > maxChunkBytes) {
		if err := c.flush(); err != nil {
			return err
		}
	}
	if c.n == 0 {
		c.first, c.start = c.b.next, len(c.arena)
	}
	c.arena = appendChunkRecord(c.arena, rec)
	c.n++
	c.b.next++
	return nil
}

// flush writes the open chunk, if any.
func (c *chunker) flush() error {
	if c.n == 0 {
		return nil
	}
	k := chunkKey(c.first, c.n)
	c.n = 0
	return c.put(k, c.arena[c.start:len(c.arena):len(c.arena)])
}

// put writes one chunk.
func (c *chunker) put(k, v []byte) error {
	c.b.added += int64(len(k) + len(v))
	c.b.vlog = c.b.vlog || len(v) >= c.vlogAt
	if c.txn == nil {
		c.entries = append(c.entries, badger.NewEntry(k, v))
		return nil
	}
	return c.txn.SetEntry(badger.NewEntry(k, v))
}

// frame is the frame of record i, or nil.
func (r *request) frame(i int) []byte {
	if i < len(r.frames) {
		return r.frames[i]
	}
	return nil
}

func applyOps(txn *badger.Txn, r *request) error {
	for _, o := range r.ops {
		var err error
		if o.del {
			err = txn.Delete(o.key)
		} else {
			err = txn.SetEntry(badger.NewEntry(o.key, o.val))
		}
		if err != nil {
			return err
		}
	}
	if r.setFirst > 0 {
		return txn.SetEntry(badger.NewEntry(metaFirstKey, u64(r.setFirst)))
	}
	return nil
}

// stamp writes offset and ingest time into an encoded record.
func stamp(v []byte, off uint64, ns int64) {
	putU64(v[offOffset:], off)
	putU64(v[offTime:], uint64(ns))
}

// publish makes a committed group visible to readers and wakes them.
func (w *writer) publish(b batch) {
	l := w.l
	var recs, appends, drop int64
	setFirst := uint64(0)
	for _, r := range b.group {
		if r.err != nil {
			continue
		}
		if len(r.vals) > 0 {
			appends++
			recs += int64(len(r.vals))
		}
		drop += r.dropBytes
		setFirst = max(setFirst, r.setFirst)
	}
	if recs > 0 {
		l.st.batches.Add(1)
		l.st.appends.Add(uint64(appends))
		l.st.records.Add(uint64(recs))
	}
	l.mu.Lock()
	l.next = b.next
	if setFirst > 0 { // a retention pass
		l.first = max(l.first, setFirst)
		l.moveCursorsLocked(l.first)
	}
	l.logical = max(0, l.logical+b.added-drop)
	if recs > 0 {
		l.lastTime = b.now
		l.full = false
	}
	if l.taken { // otherwise nobody holds the channel: no new one per commit
		close(l.notify)
		l.notify, l.taken = make(chan struct{}), false
	}
	l.mu.Unlock()
}

func (w *writer) finish(group []*request, err error) {
	for _, r := range group {
		if r.err == nil {
			r.err = err
		}
		r.done <- struct{}{} // the last touch: its caller may recycle r
	}
}

// freeCheckEvery bounds how long the writer reuses a free-space reading.
const freeCheckEvery = 100 * time.Millisecond

// lowSpace reports whether the file system is below the free-space reserve
// for a group adding bytes. statfs is a system call per group commit, a few
// percent of a busy node's CPU, so a reading is reused for up to
// freeCheckEvery while the bytes written since (counted three times over,
// for Badger's value log, WAL and compactions) stay under half the headroom
// it showed; below the reserve every group checks again.
func (w *writer) lowSpace(adding int64) bool {
	now := time.Now()
	headroom := w.free - w.l.reserve
	if w.freeAt.IsZero() || now.Sub(w.freeAt) >= freeCheckEvery || headroom <= 0 || 3*w.sinceFree >= headroom/2 {
		free, err := freeBytes(w.l.dir)
		if err != nil {
			return false
		}
		w.free, w.freeAt, w.sinceFree = free, now, 0
	}
	w.sinceFree += adding
	return w.free < w.l.reserve
}

// admit refuses the append requests that may not proceed: the file system
// is below its free-space reserve, or reject-new holds the byte budget.
func (w *writer) admit(group []*request) {
	l := w.l
	appends := false
	for _, r := range group {
		appends = appends || len(r.vals) > 0
	}
	if !appends {
		return
	}
	adding := int64(0)
	for _, r := range group {
		adding += r.bytes
	}
	lowSpace := w.lowSpace(adding)
	l.mu.Lock()
	logical, budget := l.logical, l.budget()
	reject := l.opts.FullPolicy == RejectNew && budget > 0 && len(l.cursors) > 0
	hard := l.blocked || logical > budget+budget/4
	l.mu.Unlock()
	refused := false
	for _, r := range group {
		if len(r.vals) == 0 {
			continue
		}
		if lowSpace || (reject && hard && logical+r.bytes > budget) {
			r.err = ErrFull
			refused = true
			continue
		}
		logical += r.bytes
	}
	if budget > 0 && logical > budget {
		l.kickRetention()
	}
	if refused {
		l.st.fullErrors.Add(1)
		l.mu.Lock()
		if !l.full {
			l.log.Warn().Bool("low_disk", lowSpace).Msg("log full: refusing appends")
		}
		l.full = true
		l.mu.Unlock()
	}
}

// mapErr turns ENOSPC into ErrFull, keeping the cause.
func mapErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

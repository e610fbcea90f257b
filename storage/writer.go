package storage

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// request is one unit of work for the writer goroutine: records to append
// and/or key writes. The writer fills first/err and closes done.
type request struct {
	vals  [][]byte // encoded records; the writer stamps offset and time
	ops   []op     // other key writes, applied in the same transaction
	sync  bool     // fsync mode must sync before done (appends and KV writes)
	size  int64    // Badger's transaction size estimate
	count int64    // Badger entries
	bytes int64    // stored bytes the records add (keys + values)

	// Retention deletes: when setFirst > 0 the meta first key and the
	// published first offset move there and dropBytes leave the byte count.
	setFirst  uint64
	dropBytes int64
	drop      [][]byte // key prefixes to DropPrefix after the transaction

	first uint64
	err   error
	done  chan struct{}
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
	req := &request{vals: make([][]byte, len(recs)), sync: true, done: make(chan struct{})}
	size := 0
	for i := range recs {
		size += encodedSize(&recs[i])
	}
	buf := make([]byte, 0, size)
	for i := range recs {
		r := recs[i]
		r.Offset, r.Time = 0, time.Time{}
		if r.Origin == "" {
			r.Origin = l.opts.NodeID
		}
		start := len(buf)
		buf = EncodeRecord(buf, &r)
		req.vals[i] = buf[start:len(buf):len(buf)]
		req.add(logKey(0), req.vals[i], l.prof.valueThreshold)
		req.bytes += 9 + int64(len(req.vals[i]))
	}
	if err := l.submit(ctx, req); err != nil {
		return nil, err
	}
	offs := make([]uint64, len(recs))
	for i := range offs {
		offs[i] = req.first + uint64(i)
	}
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

// writer is the single goroutine that writes to Badger. Being the only
// writer makes "commit, then db.Sync" cover exactly the committed group (no
// other write can rotate the memtable in between) and keeps offsets gapless.
type writer struct {
	l        *Log
	next     uint64 // offset for the next record; only the writer touches it
	lastTime int64
	maxSize  int64
	maxCount int64
	dirty    bool // batch mode: writes since the last sync
	lastSync time.Time
}

func newWriter(l *Log) *writer {
	return &writer{
		l: l, next: l.next, lastTime: l.lastTime, lastSync: time.Now(),
		maxSize: l.db.MaxBatchSize() * 9 / 10, maxCount: l.db.MaxBatchCount() - 1,
	}
}

func (w *writer) run() {
	defer w.l.wg.Done()
	var tick <-chan time.Time
	if w.l.opts.Durability == DurabilityBatch {
		t := time.NewTicker(w.l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	var carry *request
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case r, ok := <-w.l.reqs:
				if !ok {
					w.shutdown()
					return
				}
				first = r
			case <-tick:
				w.syncIfDirty()
				continue
			}
		}
		group := []*request{first}
		size, count := first.size, first.count
	gather:
		for size < w.maxSize {
			select {
			case r, ok := <-w.l.reqs:
				if !ok {
					break gather // the next receive sees the closed channel again
				}
				if size+r.size > w.maxSize || count+r.count > w.maxCount || r.drop != nil || first.drop != nil {
					carry = r
					break gather
				}
				group = append(group, r)
				size += r.size
				count += r.count
			default:
				break gather
			}
		}
		w.commit(group)
	}
}

// shutdown persists dirty cursors and makes everything durable before Close
// closes Badger.
func (w *writer) shutdown() {
	w.commit(nil)
	if w.l.opts.Durability != DurabilityNone {
		if err := w.l.db.Sync(); err != nil {
			w.l.log.Error().Err(err).Msg("final sync")
		}
	}
}

func (w *writer) syncIfDirty() {
	if !w.dirty {
		return
	}
	if err := w.l.db.Sync(); err != nil {
		w.l.log.Error().Err(err).Msg("periodic sync")
		return
	}
	w.l.st.syncs.Add(1)
	w.dirty = false
	w.lastSync = time.Now()
}

// commit writes one group in one Badger transaction, syncs per the
// durability mode, publishes the new state and releases the callers.
func (w *writer) commit(group []*request) {
	l := w.l
	w.admit(group)
	txn := l.db.NewTransaction(true)
	defer txn.Discard()
	now := time.Now().UnixNano()
	if now < w.lastTime {
		now = w.lastTime
	}
	next, added, needSync, err := w.next, int64(0), false, error(nil)
	for _, r := range group {
		if r.err != nil {
			continue
		}
		if len(r.vals) > 0 {
			r.first = next
		}
		for _, v := range r.vals {
			stamp(v, next, now)
			if err = txn.SetEntry(badger.NewEntry(logKey(next), v)); err != nil {
				break
			}
			next++
		}
		added += r.bytes
		needSync = needSync || r.sync
		if err == nil {
			err = applyOps(txn, r)
		}
		if err != nil {
			break
		}
	}
	cursors := w.cursorOps(txn, &err)
	if err == nil {
		err = txn.Commit()
	}
	for _, r := range group {
		if err == nil && len(r.drop) > 0 {
			if err = l.db.DropPrefix(r.drop...); err == nil {
				l.st.dropPrefixes.Add(1)
			}
		}
	}
	if err == nil && needSync && l.opts.Durability == DurabilityFsync {
		if err = l.db.Sync(); err == nil {
			l.st.syncs.Add(1)
		} else {
			err = fmt.Errorf("sync: %w", mapErr(err))
			w.publish(group, next, added, now) // written but not durable: offsets are used
			w.finish(group, err)
			return
		}
	}
	if err != nil {
		w.l.redirty(cursors)
		w.finish(group, fmt.Errorf("commit: %w", mapErr(err)))
		return
	}
	w.publish(group, next, added, now)
	w.finish(group, nil)
	if l.opts.Durability == DurabilityBatch {
		w.dirty = true
		if time.Since(w.lastSync) >= l.opts.SyncInterval {
			w.syncIfDirty()
		}
	}
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
func (w *writer) publish(group []*request, next uint64, added, now int64) {
	l := w.l
	var recs, appends, drop int64
	setFirst := uint64(0)
	for _, r := range group {
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
		w.lastTime = now
		l.st.batches.Add(1)
		l.st.appends.Add(uint64(appends))
		l.st.records.Add(uint64(recs))
	}
	w.next = next
	l.mu.Lock()
	l.next = next
	l.first = max(l.first, setFirst)
	l.logical = max(0, l.logical+added-drop)
	if recs > 0 {
		l.lastTime = now
		l.full = false
	}
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

func (w *writer) finish(group []*request, err error) {
	for _, r := range group {
		if r.err == nil {
			r.err = err
		}
		close(r.done)
	}
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
	lowSpace := false
	if free, err := freeBytes(l.dir); err == nil && free < l.reserve {
		lowSpace = true
	}
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

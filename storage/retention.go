package storage

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// retentionInput is what a retention decision depends on; planRetention is
// pure so tests can step it without a clock or a disk.
type retentionInput struct {
	first, next    uint64
	logical        int64  // stored record bytes
	budget         int64  // record bytes allowed (0 = unbounded)
	ageCut         uint64 // first offset young enough for max_age (first when unbounded)
	minCursor      uint64 // smallest registered cursor (next when none)
	hasCursors     bool
	policy         FullPolicy
	deleteConsumed bool
}

// retentionPlan: delete every record below cut, then keep deleting the
// oldest records below limit until freeBytes are freed.
type retentionPlan struct {
	cut       uint64
	limit     uint64
	freeBytes int64
}

// lowWater is the fraction of the budget retention trims down to, so a log
// at its bound does not run retention on every append.
const lowWater = 0.9

func planRetention(in retentionInput) retentionPlan {
	held := in.policy == RejectNew && in.hasCursors // cursors may not be passed
	cut := in.first
	if in.deleteConsumed && in.hasCursors {
		cut = max(cut, in.minCursor)
	}
	if in.ageCut > cut {
		if held {
			cut = max(cut, min(in.ageCut, in.minCursor))
		} else {
			cut = in.ageCut
		}
	}
	p := retentionPlan{cut: min(cut, in.next), limit: in.next}
	if in.budget > 0 && in.logical > in.budget {
		p.freeBytes = in.logical - int64(float64(in.budget)*lowWater)
		if held {
			p.limit = max(p.cut, min(in.minCursor, in.next))
		}
	}
	return p
}

// budget is the record bytes MaxBytes leaves after Badger's own overhead.
func (l *Log) budget() int64 {
	if l.opts.MaxBytes == 0 {
		return 0
	}
	return l.opts.MaxBytes - l.prof.overhead()
}

func (l *Log) kickRetention() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *Log) runRetention() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.RetentionInterval)
	defer t.Stop()
	var release <-chan time.Time // nil (never) unless the profile releases mapped pages
	rel := newReleaser(l)
	if l.prof.releaseEvery > 0 && !l.opts.noRelease {
		rt := time.NewTicker(l.prof.releaseEvery)
		defer rt.Stop()
		release = rt.C
	}
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		case <-l.kick:
		case now := <-release:
			if _, err := rel.pass(now); err != nil {
				l.log.Info().Err(err).Msg("not releasing Badger's mapped file pages")
				release = nil
			}
			continue
		}
		now := time.Now()
		if err := l.retain(now, now.Sub(l.opened)); err != nil && !errors.Is(err, ErrClosed) {
			l.log.Warn().Err(err).Msg("retention")
		}
	}
}

// retain runs one retention pass at wall time now, up after Open by the
// running (monotonic) clock.
func (l *Log) retain(now time.Time, up time.Duration) error {
	l.clockPass(now, up)
	in, err := l.retentionInput(now, up)
	if err != nil {
		return err
	}
	p := planRetention(in)
	freed, err := l.deleteOldest(p)
	if derr := l.dropTables(); err == nil {
		err = derr
	}
	l.mu.Lock()
	l.blocked = p.freeBytes > 0 && freed < p.freeBytes
	flush := len(l.dirty) > 0
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if freed > 0 {
		l.reclaimPending = true
	}
	if l.reclaimPending {
		l.reclaim()
	}
	if flush { // persist cursors committed since the last group commit
		return l.submit(context.Background(), &request{done: newDone()})
	}
	return nil
}

// logClockStep says that the wall clock moved by d more than the running
// clock did, and what that does to the records' ingest times.
func (l *Log) logClockStep(d time.Duration) {
	ev := l.log.Warn().Dur("step", d)
	if d > 0 {
		if l.opts.MaxAge > 0 {
			ev = ev.Str("max_age", "adds the step to the stamps of the records this process appended before it, also after a restart")
		}
		ev.Msg("the wall clock stepped forward: records logged before the step carry ingest times up to that much too early")
		return
	}
	ev.Msg("the wall clock stepped back: records logged before the step carry ingest times up to that much too late," +
		" and new records carry the newest time logged until the clock passes it (ingest times never decrease)")
}

// clockPass looks for a step of the wall clock at wall time now and running
// time up, says so, and stores in one write what it found (clock.go): a step
// forward as a clock shift of the records appended under the old clock, and
// a fresh clock anchor when one is due.
func (l *Log) clockPass(now time.Time, up time.Duration) {
	a := l.ages
	d := a.step(now, up)
	stepped := d >= clockStep || d <= -clockStep
	if stepped {
		l.logClockStep(d)
	}
	shifts := a.shifts
	var ops []op
	shift := false
	if stepped && d > 0 {
		first, next := l.bounds()
		if shift = next > a.since; shift { // else nothing was appended under the old clock
			shifts = addShift(shifts, clockShift{from: a.since, to: next, d: d}, first)
			ops = append(ops, op{key: metaShiftsKey, val: encodeShifts(shifts)})
		}
	}
	anchor := a.anchorDue(up, stepped)
	if anchor {
		ops = append(ops, op{key: metaClockKey, val: encodeAnchor(a.anchor(now, up))})
	}
	if len(ops) == 0 {
		return
	}
	req := &request{ops: ops, sync: true, done: newDone()}
	for _, o := range ops {
		req.add(o.key, o.val, l.prof.valueThreshold)
	}
	err := l.submit(context.Background(), req)
	a.shifts = shifts // kept in memory even when not stored: this process still counts it
	switch {
	case err != nil && shift:
		l.log.Warn().Err(err).Msg("the clock step is not stored: after a restart max_age goes by the stamps of the records appended before it")
	case err != nil:
		l.log.Debug().Err(err).Msg("clock anchor not stored")
	case anchor:
		a.anchored, a.anchorUp = true, up
	}
}

// ageCut returns the first offset in [first, next) stamped at or after
// cutoff once the log's clock shifts are added to the stamps.
func (l *Log) ageCut(first, next uint64, cutoff time.Time) (uint64, error) {
	return shiftedCut(first, next, l.ages.shifts, cutoff.UnixNano(), l.offsetAtIn)
}

func (l *Log) retentionInput(now time.Time, up time.Duration) (retentionInput, error) {
	l.mu.Lock()
	in := retentionInput{
		first: l.first, next: l.next, logical: l.logical, budget: l.budget(),
		minCursor: l.next,
		policy:    l.opts.FullPolicy, deleteConsumed: l.opts.DeleteConsumed,
	}
	for name, c := range l.cursors {
		if !l.loose(name) {
			in.minCursor = min(in.minCursor, c.next)
			in.hasCursors = true
		}
	}
	l.mu.Unlock()
	in.ageCut = in.first
	if l.opts.MaxAge > 0 {
		cut, err := l.ageCut(in.first, in.next, now.Add(-l.opts.MaxAge))
		if err != nil {
			return in, err
		}
		keep := max(l.ages.limit(in.next, up, l.opts.MaxAge), in.first)
		in.ageCut = min(cut, keep)
		if cut <= keep {
			l.ages.holding = false
		} else if !l.ages.holding {
			// Up to max_age/128 of records past max_age wait for the next
			// mark anyway; say so only when records stamped well before
			// that are kept.
			far, err := l.ageCut(in.first, in.next, now.Add(-l.opts.MaxAge-l.ages.every-clockStep))
			if l.ages.holding = err == nil && far > keep; l.ages.holding {
				l.log.Warn().Uint64("records", cut-keep).Dur("max_age", l.opts.MaxAge).
					Msg("keeping records stamped more than max_age ago that this process appended less than max_age ago: the wall clock moved")
			}
		}
	}
	return in, nil
}

// deleteOldest deletes per plan and returns the bytes freed. It finds the
// new first offset (summing chunk sizes from the oldest), commits it with a
// tombstone for every chunk below it, in rounds of maxCutKeys chunks, then
// deletes the Badger tables that hold nothing but deleted chunks
// (DropRange): their space comes back at once, and nothing is rewritten.
// Badger keeps the records of consecutive offsets in tables of their own
// (tableBoundary), so of the tables with deleted records only the one that
// also holds kept records stays, until its tombstones reach it in a
// compaction or a later cut passes its end. A chunk holding the new first
// offset stays until a later cut passes its end; reads skip its records
// below first.
func (l *Log) deleteOldest(p retentionPlan) (int64, error) {
	var freed int64
	for {
		c, err := l.findCut(p)
		if err != nil || (len(c.keys) == 0 && c.cut <= c.first) {
			return freed, err
		}
		if err := l.deleteCut(c); err != nil {
			return freed, err
		}
		freed += c.freed
		if !c.more {
			return freed, nil
		}
		p.freeBytes -= c.freed
	}
}

// maxCutKeys bounds the chunk keys one round of deleteOldest holds (about
// 200 KB): a first cut can reach gigabytes, a log's max_bytes lowered.
const maxCutKeys = 4096

// deleteCut deletes what findCut found.
func (l *Log) deleteCut(c cutResult) error {
	// The new first offset goes with the first tombstones; the rest follow,
	// each transaction within half of Badger's limits (the writer adds the
	// first offset's key and dirty cursors to it).
	req := &request{done: newDone(), setFirst: c.cut, dropBytes: c.freed}
	for _, k := range c.keys {
		if req.size+int64(len(k))+16 > l.db.MaxBatchSize()/2 || req.count+1 > l.db.MaxBatchCount()/2 {
			if err := l.submit(context.Background(), req); err != nil {
				return err
			}
			req = &request{done: newDone()}
		}
		req.ops = append(req.ops, op{key: k, del: true})
		req.add(k, nil, l.prof.valueThreshold)
	}
	if err := l.submit(context.Background(), req); err != nil {
		return err
	}
	for _, d := range c.discards {
		l.db.AddDiscard(d.fid, d.n)
	}
	if c.end <= l.dropEnd {
		return nil
	}
	// The deletion is durable before a table goes: a power cut must not
	// leave the old first offset in front of records that are gone.
	if l.opts.Durability != DurabilityNone {
		if err := l.db.Sync(); err != nil {
			return err
		}
	}
	l.dropEnd = c.end
	return nil
}

// dropTables deletes the Badger tables that hold nothing but chunks below
// dropEnd, all deleted. Every pass tries again: DropRange skips a table that
// a compaction is working on, and a table of tombstones while the chunks
// they delete are below it.
func (l *Log) dropTables() error {
	if l.dropEnd == 0 {
		return nil
	}
	n, err := l.db.DropRange([]byte{nsLog}, logKey(l.dropEnd))
	l.st.droppedTables.Add(uint64(n))
	return err
}

// discard is the value-log bytes of one file that a cut deletes.
type discard struct {
	fid uint32
	n   int64
}

// cutResult is what findCut found.
type cutResult struct {
	first uint64   // the first offset when the walk began
	cut   uint64   // the new first offset
	freed int64    // bytes of the deleted chunks holding records >= first
	end   uint64   // the end of the last deleted chunk (0: none)
	keys  [][]byte // keys of the deleted chunks
	more  bool     // the walk stopped at maxCutKeys: another round may delete more
	// discards are the value-log entries of the deleted chunks, by file.
	// Badger's compactions do not count them (WithCallerDiscards): they would
	// count a tombstoned value only once they merge its tombstone with it,
	// and a table that DropRange drops whole not at all, so the value-log GC
	// saw the garbage late or never.
	discards []discard
}

// findCut walks chunks from the oldest and returns the new first offset per
// plan: every chunk ending at or below the plan's cut goes, then whole
// chunks below the limit until freeBytes are freed, maxCutKeys chunks at
// most (then c.more is set, and the cut ends with them). Chunks below first
// exist only when a process stopped, or a write failed, between moving first
// and committing their tombstones; they are deleted again.
func (l *Log) findCut(p retentionPlan) (c cutResult, err error) {
	c.first, _ = l.bounds()
	c.cut = c.first
	err = l.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsLog}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			first, n, ok := parseLogKey(it.Item().Key())
			if !ok {
				break
			}
			end := first + uint64(n)
			if end > p.cut && (c.freed >= p.freeBytes || end > p.limit) {
				break
			}
			if len(c.keys) == maxCutKeys {
				c.more = true
				break
			}
			if end > c.first {
				c.freed += it.Item().EstimatedSize()
				c.cut = end
			}
			c.end = end
			c.keys = append(c.keys, it.Item().KeyCopy(nil))
			if fid, n, ok := it.Item().ValueLogEntry(); ok {
				if k := len(c.discards) - 1; k >= 0 && c.discards[k].fid == fid {
					c.discards[k].n += int64(n)
				} else {
					c.discards = append(c.discards, discard{fid, int64(n)})
				}
			}
		}
		return nil
	})
	if !c.more {
		c.cut = max(c.cut, p.cut)
	}
	return c, err
}

// blockBits is log2 of the records in one block: a chunk never holds
// records of two blocks (chunk.go).
const blockBits = 8

// loose reports whether cursor name never holds retention back.
func (l *Log) loose(name string) bool {
	for _, p := range l.opts.LooseCursors {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// moveCursorsLocked moves cursors below first up to it and counts their
// losses. The writer calls it as it publishes the new first offset, so no
// reader of Stats sees a cursor below the first offset. Caller holds l.mu.
func (l *Log) moveCursorsLocked(first uint64) {
	for name, c := range l.cursors {
		if c.next >= first {
			if c.dropping {
				c.dropping = false
				l.log.Info().Str("cursor", name).Uint64("dropped_total", c.dropped).Msg("retention drops ended")
			}
			continue
		}
		n := first - c.next
		c.dropped += n
		l.dropped += n
		c.next = first
		l.dirty[name] = true
		if !c.dropping {
			c.dropping = true
			l.log.Warn().Str("cursor", name).Uint64("dropped", n).Uint64("first", first).
				Msg("retention forced to drop records this cursor had not consumed")
		}
	}
}

// gcRatio is the deleted share of a value-log file at which the value-log
// GC deletes it, rewriting the rest: nine tenths, so that the GC rewrites at
// most a tenth of a file (an SD card's wear). Retention counts each value it
// deletes (deleteOldest), and deletes oldest first, so files fill with
// garbage in order.
const gcRatio = 0.9

// reclaim runs value-log GC for values stored outside the LSM tree (64 KiB
// and more); deleteCut has already freed the LSM tree's space. A GC that
// fails is tried again on the next pass.
func (l *Log) reclaim() {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return
	}
	for {
		err := l.db.RunValueLogGC(gcRatio)
		switch {
		case err == nil:
			continue // deleted a file: the next may qualify too
		case errors.Is(err, badger.ErrNoRewrite):
			l.reclaimPending, l.gcFailed = false, ""
		default: // another GC running, a reader older than the deletions, or failed: try again on the next pass
			l.reclaimPending = true
			if msg := err.Error(); msg != l.gcFailed && !errors.Is(err, badger.ErrRejected) && !errors.Is(err, badger.ErrGCReaders) {
				l.gcFailed = msg
				l.log.Warn().Err(err).Msg("value-log GC failed; trying again on the next retention pass")
			}
		}
		return
	}
}

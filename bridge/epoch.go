package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/outpost-edge/outpost/storage"
)

// epoch is one connection of a Bridge: it reads the log from the cursor,
// sends in order with a bounded window, and commits the done prefix.
// Everything but the reader goroutine and sink callbacks runs on Run's
// goroutine.
type epoch struct {
	b          *Bridge
	win        *window
	stall      stallWatch
	rate       *rateLimit
	acks       *ackQueue
	spareAcks  []ackItem        // the ack slice handled last, reused by acks
	backlog    []storage.Record // read, not yet handed to the sink
	committed  uint64
	progressed bool
	// inflightBytes is the MemSize of the records in flight; send keeps it
	// under BufferBytes/2 (one record always goes).
	inflightBytes int

	cancel context.CancelFunc
	recs   chan []storage.Record
	readc  chan error
	done   chan struct{} // closed when the reader goroutine exits
}

func (b *Bridge) newEpoch() *epoch {
	from, ok := b.lg.Cursor(b.cursor)
	if first := b.lg.FirstOffset(); !ok || from < first {
		from = first
	}
	now := time.Now()
	e := &epoch{
		b: b, win: newWindow(from), committed: from, acks: newAckQueue(),
		stall: stallWatch{timeout: b.opts.StallTimeout},
		// Read-ahead: the log reader fetches several batches per Badger
		// iteration and pauses while it does; readAhead queued batches keep
		// the sink fed through that pause.
		recs: make(chan []storage.Record, readAhead), readc: make(chan error, 1), done: make(chan struct{}),
	}
	if b.opts.RateLimit > 0 {
		e.rate = newRateLimit(b.opts.RateLimit, b.opts.RateLimit, now)
	}
	return e
}

// readAhead is how many batches wait in epoch.recs. With the storage
// reader's prefetch (8 batches), the batch in the reader's hand and the
// backlog, about 18 batches are read ahead: batchBytes keeps them within
// half of BufferBytes.
const readAhead = 8

// batchBytes bounds one batch's MemSize.
func (o *Options) batchBytes() int { return o.BufferBytes / 2 / (readAhead + 10) }

// read is the reader goroutine: it tails the log into e.recs.
func (e *epoch) read(ctx context.Context, from uint64) {
	defer close(e.done)
	rd := e.b.lg.NewReader(from)
	defer rd.Close()
	rd.SetBatch(e.b.opts.ReadBatch)
	rd.SetBatchBytes(e.b.opts.batchBytes())
	for {
		recs, err := rd.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.readc <- fmt.Errorf("read log: %w", err)
			}
			return
		}
		select {
		case e.recs <- recs:
		case <-ctx.Done():
			return
		}
	}
}

func (e *epoch) run(ctx context.Context) error {
	rctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	go e.read(rctx, e.win.next())
	tick := time.NewTicker(e.b.opts.CommitInterval)
	defer tick.Stop()
	var lost <-chan struct{} // nil (never ready) unless the sink reports losses
	if w, ok := e.b.sink.(ConnWatcher); ok {
		lost = w.Lost()
	}
	for {
		if len(e.backlog) > 0 && e.win.inflight < e.b.opts.Window && e.inflightBytes < e.b.opts.BufferBytes/2 {
			if err := e.send(rctx); err != nil {
				return err
			}
			continue
		}
		var in <-chan []storage.Record
		if len(e.backlog) == 0 {
			in = e.recs
		}
		select {
		case recs := <-in:
			e.backlog = recs
		case <-e.acks.notify:
			if err := e.handleAcks(time.Now()); err != nil {
				return err
			}
		case now := <-tick.C:
			if err := e.commit(); err != nil {
				return err
			}
			if e.stall.observe(now, false, e.win.inflight) {
				e.b.stalls.Add(1)
				return fmt.Errorf("%w for %v with %d in flight", ErrStalled, e.b.opts.StallTimeout, e.win.inflight)
			}
		case req := <-e.b.resendc:
			req.reply <- e.resend(rctx, req.offsets)
		case from := <-e.b.replayc:
			return replayRequest(from)
		case err := <-e.readc:
			return err
		case <-lost:
			return ErrConnLost
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// send maps and hands to the sink as much of the backlog as the window
// allows, after the rate limiter's wait. Under a rate limit a batch carries
// at most a quarter second of the rate (at least one record), so the wait,
// during which acks are not processed, stays far below the stall timeout.
func (e *epoch) send(ctx context.Context) error {
	n := min(e.b.opts.Window-e.win.inflight, len(e.backlog))
	room := e.b.opts.BufferBytes/2 - e.inflightBytes // > 0: run checked
	for i := 0; i < n; i++ {
		if room -= e.backlog[i].MemSize(); room < 0 && i > 0 {
			n = i
			break
		}
	}
	if e.rate != nil {
		n = rateBatch(e.backlog[:n], e.b.opts.RateLimit/4)
	}
	batch := e.backlog[:n]
	e.backlog = e.backlog[n:]
	msgs := make([]Message, 0, n)
	bytes := 0
	now := time.Now()
	for i := range batch {
		rec := &batch[i]
		dest, qos, retain, ok, err := e.b.mapping.Map(rec.Topic, rec.QoS, rec.Retain)
		switch {
		case !ok:
			e.b.skipped.Add(1)
		case err != nil:
			if derr := e.deadLetter(*rec, err, now); derr != nil {
				return derr
			}
		}
		e.addToWindow(rec.Offset, !ok || err != nil)
		if ok && err == nil {
			msgs = append(msgs, Message{Record: rec, Topic: dest, QoS: qos, Retain: retain})
			bytes += len(rec.Payload)
			e.inflightBytes += rec.MemSize()
		}
	}
	if len(msgs) == 0 {
		e.win.advance() // a long run of skipped records must not pile up
		return nil
	}
	if wait := e.rate.take(now, bytes); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	e.stall.observe(time.Now(), false, e.win.inflight)
	e.b.sink.Send(ctx, msgs, e.ack)
	return nil
}

// rateBatch is how many of recs fit in budget payload bytes (at least 1).
func rateBatch(recs []storage.Record, budget int64) int {
	n, sum := 0, int64(0)
	for n < len(recs) {
		sum += int64(len(recs[n].Payload))
		if n > 0 && sum > budget {
			break
		}
		n++
	}
	return n
}

// addToWindow adds off; a gap (records retention removed before we read
// them) is marked done.
func (e *epoch) addToWindow(off uint64, done bool) {
	if off > e.win.next() {
		if e.win.advance() == e.win.next() {
			e.win = &window{base: off, inflight: 0}
		} else {
			for o := e.win.next(); o < off; o++ {
				e.win.add(o, true)
			}
		}
	}
	e.win.add(off, done)
}

func (e *epoch) ack(m *Message, r Result) { e.acks.push(ackItem{msg: m, res: r}) }

func (e *epoch) ackResend(m *Message, r Result) { e.acks.push(ackItem{msg: m, res: r, resend: true}) }

// handleAcks applies queued results; a Retry ends the connection.
func (e *epoch) handleAcks(now time.Time) error {
	var retry error
	acked := false
	items := e.acks.take(e.spareAcks)
	defer func() { e.spareAcks = items }()
	for _, it := range items {
		off := it.msg.Record.Offset
		if it.resend {
			e.resendResult(it, now)
			continue
		}
		switch it.res.Outcome {
		case Acked:
			if e.win.ack(off) {
				e.inflightBytes -= it.msg.Record.MemSize()
				e.b.sentRecords.Add(1)
				e.b.sentBytes.Add(uint64(len(it.msg.Record.Payload)))
				acked = true
			}
		case Rejected:
			if err := e.deadLetter(*it.msg.Record, it.res.Err, now); err != nil {
				return err
			}
			if e.win.ack(off) {
				e.inflightBytes -= it.msg.Record.MemSize()
				acked = true
			}
		default:
			if retry == nil {
				retry = fmt.Errorf("%w: offset %d: %v", ErrRetry, off, it.res.Err)
			}
		}
	}
	if acked {
		e.progressed = true
	}
	e.stall.observe(now, acked, e.win.inflight)
	return retry
}

func (e *epoch) deadLetter(rec storage.Record, reason error, now time.Time) error {
	if err := e.b.dead.put(rec, reason.Error(), now); err != nil {
		return fmt.Errorf("store dead letter %d: %w", rec.Offset, err)
	}
	e.b.letters.Add(1)
	e.b.log.Warn().Uint64("offset", rec.Offset).Str("topic", rec.Topic).Str("reason", reason.Error()).Msg("dead letter")
	return nil
}

// commit writes the cursor when the done prefix moved.
func (e *epoch) commit() error {
	cur := e.win.advance()
	if cur == e.committed {
		return nil
	}
	if err := e.b.lg.Commit(e.b.cursor, cur); err != nil {
		return fmt.Errorf("commit cursor %d: %w", cur, err)
	}
	e.committed = cur
	return nil
}

// close ends the cycle: stop reading, disconnect (every message in flight
// gets its result), apply the results, commit. Order matters: the commit
// must see every acknowledgement.
func (e *epoch) close() {
	e.cancel()
	if err := e.b.sink.Disconnect(); err != nil {
		e.b.log.Warn().Err(err).Msg("disconnect")
	}
	<-e.done
	_ = e.handleAcks(time.Now()) // retries are expected here: resent next cycle
	if err := e.commit(); err != nil {
		e.b.log.Error().Err(err).Msg("final cursor commit failed")
	}
}

// resend hands dead letters to the sink outside the window.
func (e *epoch) resend(ctx context.Context, offsets []uint64) error {
	msgs := make([]Message, 0, len(offsets))
	var errs []error
	for _, off := range offsets {
		dl, err := e.b.dead.get(off)
		if err != nil {
			errs = append(errs, fmt.Errorf("dead letter %d: %w", off, err))
			continue
		}
		dest, qos, retain, ok, err := e.b.mapping.Map(dl.Record.Topic, dl.Record.QoS, dl.Record.Retain)
		if !ok || err != nil {
			errs = append(errs, fmt.Errorf("dead letter %d: topic %q maps nowhere valid: %v", off, dl.Record.Topic, err))
			continue
		}
		msgs = append(msgs, Message{Record: &dl.Record, Topic: dest, QoS: qos, Retain: retain})
	}
	e.b.sink.Send(ctx, msgs, e.ackResend)
	return errors.Join(errs...)
}

func (e *epoch) resendResult(it ackItem, now time.Time) {
	off := it.msg.Record.Offset
	switch it.res.Outcome {
	case Acked:
		if err := e.b.dead.remove(off); err != nil {
			e.b.log.Error().Err(err).Uint64("offset", off).Msg("remove re-sent dead letter")
		}
		e.b.sentRecords.Add(1)
	default:
		reason := fmt.Errorf("resend %v: %v", it.res.Outcome, it.res.Err)
		if err := e.b.dead.put(*it.msg.Record, reason.Error(), now); err != nil {
			e.b.log.Error().Err(err).Uint64("offset", off).Msg("update dead letter")
		}
	}
}

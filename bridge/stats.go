package bridge

import (
	"context"
	"time"
)

// Stats is a snapshot of one bridge for /api/v1/status and /metrics.
type Stats struct {
	Name  string
	Kind  string
	State string
	// Cursor is the first offset not yet done; Lag the records from it to
	// the log end.
	Cursor uint64
	Lag    uint64
	// OldestUnsentAge is the age of the record at the cursor (0 when none).
	OldestUnsentAge time.Duration
	// SentRecords and SentBytes (payload) count acknowledged messages.
	SentRecords uint64
	SentBytes   uint64
	// Skipped counts records no rule matched.
	Skipped uint64
	// Retries counts failed connection cycles; Reconnects successful
	// connects after the first; Stalls watchdog-triggered reconnects.
	Retries    uint64
	Reconnects uint64
	Stalls     uint64
	// DeadLetters counts records dead-lettered (including repeats).
	DeadLetters uint64
	// Drops counts records retention removed before this bridge sent them.
	Drops uint64
}

// Stats returns a snapshot; safe to call at any time.
func (b *Bridge) Stats() Stats {
	s := Stats{
		Name: b.opts.Name, Kind: b.opts.Kind, State: State(b.state.Load()).String(),
		SentRecords: b.sentRecords.Load(), SentBytes: b.sentBytes.Load(), Skipped: b.skipped.Load(),
		Retries: b.retries.Load(), Reconnects: b.reconnects.Load(), Stalls: b.stalls.Load(),
		DeadLetters: b.letters.Load(),
	}
	cur, ok := b.lg.Cursor(b.cursor)
	if first := b.lg.FirstOffset(); !ok || cur < first {
		cur = first
	}
	s.Cursor = cur
	if next := b.lg.NextOffset(); next > cur {
		s.Lag = next - cur
		if recs, err := b.lg.Read(context.Background(), cur, 1); err == nil && len(recs) > 0 {
			s.OldestUnsentAge = time.Since(recs[0].Time)
		}
	}
	if cs, ok := b.lg.Stats().Cursors[b.cursor]; ok {
		s.Drops = cs.Dropped
	}
	return s
}

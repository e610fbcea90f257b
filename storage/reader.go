package storage

import (
	"context"
	"sync"
)

// DefaultReaderBatch is the default maximum batch a Reader returns.
const DefaultReaderBatch = 512

// DefaultReaderBatchBytes is the default bound on a batch's MemSize: with
// 1 MiB payloads a batch of 512 would hold half a GiB.
const DefaultReaderBatchBytes = 1 << 20

// prefetchBatches is how many batches a Reader reads from Badger at once:
// one iterator and snapshot serve several Next calls. A Reader holds at
// most prefetchBatches batches' bytes.
const prefetchBatches = 8

// Reader tails the log from a position. Next blocks until records exist at or
// after the position, then returns a batch and advances past it. Records
// dropped by retention are skipped silently (the caller sees the offset gap).
//
// A Reader is used by one goroutine; Close may be called from any goroutine
// and makes a blocked Next return ErrClosed. A Reader starts no goroutine:
// waiting is on the log's commit notification, never polling.
type Reader struct {
	l     *Log
	pos   uint64
	batch int
	bytes int      // bound on a batch's MemSize
	buf   []Record // prefetched records, buf[0].Offset >= pos

	closeOnce sync.Once
	closed    chan struct{}
}

// NewReader returns a Reader positioned at from.
func (l *Log) NewReader(from uint64) *Reader {
	return &Reader{l: l, pos: from, batch: DefaultReaderBatch, bytes: DefaultReaderBatchBytes, closed: make(chan struct{})}
}

// SetBatch sets the maximum number of records Next returns (n >= 1).
func (r *Reader) SetBatch(n int) {
	r.batch = max(n, 1)
	r.buf = nil
}

// SetBatchBytes bounds the MemSize of the records Next returns (n >= 1); a
// batch still holds one record larger than n.
func (r *Reader) SetBatchBytes(n int) {
	r.bytes = max(n, 1)
	r.buf = nil
}

// Next returns the next batch of records (at most the batch size), blocking
// until at least one exists. ErrClosed after Close of the reader or the log.
func (r *Reader) Next(ctx context.Context) ([]Record, error) {
	for {
		select {
		case <-r.closed:
			return nil, ErrClosed
		default:
		}
		if len(r.buf) > 0 {
			n, size := 1, r.buf[0].MemSize()
			for n < min(r.batch, len(r.buf)) {
				if size += r.buf[n].MemSize(); size > r.bytes {
					break
				}
				n++
			}
			out := r.buf[:n:n]
			r.buf = r.buf[n:]
			r.pos = out[n-1].Offset + 1
			return out, nil
		}
		wait := r.l.waitCh() // taken before reading: a commit after the read still wakes us
		recs, err := r.l.read(ctx, r.pos, r.batch*prefetchBatches, r.bytes*prefetchBatches)
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			r.buf = recs
			continue
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-r.closed:
			return nil, ErrClosed
		case <-r.l.done:
			return nil, ErrClosed
		}
	}
}

// Seek moves the reader to offset, dropping any prefetched records.
func (r *Reader) Seek(offset uint64) {
	r.pos = offset
	r.buf = nil
}

// Position is the offset the next returned record will have at the earliest.
func (r *Reader) Position() uint64 { return r.pos }

// Close ends the reader; a blocked Next returns ErrClosed.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}

package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Read returns up to max records with offset >= from, in offset order. A from
// below FirstOffset starts at FirstOffset. It returns an empty slice and a nil
// error when no such record exists yet.
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]Record, error) {
	first, next := l.bounds()
	from = maxU(from, first)
	if max <= 0 || from >= next {
		if l.isClosed() {
			return nil, ErrClosed
		}
		return nil, nil
	}
	n := int(min(uint64(max), next-from))
	out := make([]Record, 0, n)
	err := l.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsLog}})
		defer it.Close()
		for it.Seek(logKey(from)); it.Valid() && len(out) < n; it.Next() {
			off, ok := keyOffset(it.Item().Key())
			if !ok || off >= next {
				break
			}
			if len(out)%1024 == 1023 && ctx.Err() != nil {
				return ctx.Err()
			}
			var rec Record
			err := it.Item().Value(func(v []byte) (err error) {
				rec, err = DecodeRecord(v)
				return err
			})
			if err == nil && rec.Offset != off {
				err = fmt.Errorf("%w: key offset %d holds record %d", ErrCorrupt, off, rec.Offset)
			}
			if err != nil {
				return fmt.Errorf("read offset %d: %w", off, err)
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

func maxU(a, b uint64) uint64 { return max(a, b) }

func (l *Log) isClosed() bool {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	return l.closed
}

// OffsetAt returns the first offset whose ingest time is >= t, or NextOffset
// when there is none. Ingest times never decrease, so this is a binary search
// of O(log n) point reads.
func (l *Log) OffsetAt(t time.Time) (uint64, error) {
	lo, hi := l.bounds()
	target := t.UnixNano()
	err := l.view(func(txn *badger.Txn) error {
		for lo < hi {
			mid := lo + (hi-lo)/2
			ns, err := recordTime(txn, mid)
			if err != nil {
				return err
			}
			if ns >= target {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return nil
	})
	return lo, err
}

// recordTime reads the ingest time of the record at off; a record deleted
// by retention counts as older than anything.
func recordTime(txn *badger.Txn, off uint64) (int64, error) {
	it, err := txn.Get(logKey(off))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return -1 << 63, nil
	}
	if err != nil {
		return 0, err
	}
	var ns int64
	err = it.Value(func(v []byte) error {
		if len(v) < headerLen {
			return fmt.Errorf("%w: offset %d", ErrCorrupt, off)
		}
		ns = int64(getU64(v[offTime:]))
		return nil
	})
	return ns, err
}

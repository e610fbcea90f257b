package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Read returns up to max records with offset >= from, in offset order. A from
// below FirstOffset starts at FirstOffset. It returns an empty slice and a nil
// error when no such record exists yet.
func (l *Log) Read(ctx context.Context, from uint64, max int) ([]Record, error) {
	return l.read(ctx, from, max, 0)
}

// read is Read that also stops before the records' MemSize passes maxBytes
// (0: no bound); it always returns at least one record when one exists, so
// a record larger than maxBytes is still read.
func (l *Log) read(ctx context.Context, from uint64, max, maxBytes int) ([]Record, error) {
	first, next := l.bounds()
	from = maxU(from, first)
	if max <= 0 || from >= next {
		if l.isClosed() {
			return nil, ErrClosed
		}
		return nil, nil
	}
	n := int(min(uint64(max), next-from))
	var out []Record       // allocated at the first chunk, sized by its records
	size, over := 0, false // over: the next record would pass maxBytes
	full := func() bool { return len(out) == n || over || maxBytes > 0 && size >= maxBytes }
	err := l.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsLog}})
		defer it.Close()
		if _, _, err := seekChunk(it, from); err != nil {
			return err
		}
		for ; it.Valid() && !full(); it.Next() {
			item := it.Item()
			first, cnt, ok := parseLogKey(item.Key())
			if !ok {
				return fmt.Errorf("%w: log key %x", ErrCorrupt, item.Key())
			}
			if first >= next {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			// One copy per chunk, which its records then point into.
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read offset %d: %w", first, err)
			}
			if out == nil {
				out = make([]Record, 0, capFor(n, maxBytes, len(v)/cnt))
			}
			err = chunkRecords(item.Key(), v, cnt, func(i int, b []byte) (bool, error) {
				off := first + uint64(i)
				if off < from {
					return true, nil
				}
				if off >= next || full() {
					return false, nil
				}
				rec, err := decodeRecord(b, true)
				if err == nil && rec.Offset != off {
					err = fmt.Errorf("%w: key offset %d holds record %d", ErrCorrupt, off, rec.Offset)
				}
				if err != nil {
					return false, fmt.Errorf("read offset %d: %w", off, err)
				}
				sz := rec.MemSize()
				if len(out) > 0 && maxBytes > 0 && size+sz > maxBytes {
					over = true
					return false, nil
				}
				size += sz
				out = append(out, rec)
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// capFor is the capacity for reading n records under maxBytes (0: none) when
// a record's encoding is about enc bytes: a bound of bytes that comes first
// would leave most of n slots of a pointerful struct allocated for nothing.
func capFor(n, maxBytes, enc int) int {
	if maxBytes <= 0 {
		return n
	}
	return min(n, maxBytes/(recordOverhead+enc)*5/4+1)
}

func maxU(a, b uint64) uint64 { return max(a, b) }

func (l *Log) isClosed() bool {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	return l.closed
}

// OffsetAt returns the first offset whose ingest time is >= t, or NextOffset
// when there is none. Ingest times never decrease, so this is a binary search
// of O(log n) seeks.
func (l *Log) OffsetAt(t time.Time) (uint64, error) {
	lo, hi := l.bounds()
	return l.offsetAtIn(t.UnixNano(), lo, hi)
}

// offsetAtIn returns the first offset in [lo, hi) whose ingest time is >=
// target (Unix ns), or hi when there is none.
func (l *Log) offsetAtIn(target int64, lo, hi uint64) (uint64, error) {
	err := l.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsLog}})
		defer it.Close()
		for lo < hi {
			mid := lo + (hi-lo)/2
			ns, err := recordTime(it, mid)
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
func recordTime(it *badger.Iterator, off uint64) (int64, error) {
	first, cnt, err := seekChunk(it, off)
	if err != nil || !it.Valid() || first > off {
		return -1 << 63, err
	}
	item := it.Item()
	ns := int64(0)
	err = item.Value(func(v []byte) error {
		return chunkRecords(item.Key(), v, cnt, func(i int, b []byte) (bool, error) {
			if first+uint64(i) < off {
				return true, nil
			}
			if len(b) < headerLen {
				return false, fmt.Errorf("%w: offset %d", ErrCorrupt, off)
			}
			ns = int64(getU64(b[offTime:]))
			return false, nil
		})
	})
	return ns, err
}

// seekChunk moves it to the chunk holding off or, when none does, to the
// first chunk after it (it is then invalid past the last chunk), and
// returns that chunk's first offset and record count.
func seekChunk(it *badger.Iterator, off uint64) (first uint64, n int, err error) {
	for it.Seek(logKey(blockStart(off))); it.Valid(); it.Next() {
		first, n, ok := parseLogKey(it.Item().Key())
		if !ok {
			return 0, 0, fmt.Errorf("%w: log key %x", ErrCorrupt, it.Item().Key())
		}
		if first+uint64(n) > off {
			return first, n, nil
		}
	}
	return 0, 0, nil
}

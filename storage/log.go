package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"
)

// Key layout inside Badger. One byte of namespace, then:
//
//	'l' offset (8 bytes BE) count (2 bytes BE)
//	                             -> a chunk of count records (chunk.go)
//	'c' cursor name              -> next offset (8 bytes BE)
//	'k' uvarint(len) bucket key  -> KV value
//	'm' "first"                  -> offset below which everything is deleted
//	'm' "shifts"                 -> clock steps forward the log saw (clock.go)
const (
	nsLog    = 'l'
	nsCursor = 'c'
	nsKV     = 'k'
	nsMeta   = 'm'
)

var metaFirstKey = []byte{nsMeta, 'f', 'i', 'r', 's', 't'}

func logKey(off uint64) []byte {
	k := make([]byte, 9)
	k[0] = nsLog
	binary.BigEndian.PutUint64(k[1:], off)
	return k
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Log is a durable, append-only record log over Badger. All methods are safe
// for concurrent use. See doc.go for the concurrency and durability contract.
type Log struct {
	opts    Options
	prof    profile
	dir     string
	db      *badger.DB
	log     zerolog.Logger
	reserve int64 // free bytes the file system must keep for Append to proceed

	// closeMu guards closed and the reqs channel: senders and readers hold it
	// shared; Close holds it exclusively to close reqs and later the DB.
	closeMu sync.RWMutex
	closed  bool
	reqs    chan *request
	// writeEntries is db.WriteEntries; a test makes it fail.
	writeEntries func([]*badger.Entry) error

	done chan struct{} // closed when Close starts: stops retention, wakes readers
	kick chan struct{} // nudges retention (buffered 1)
	wg   sync.WaitGroup

	// mu guards the published log state below.
	mu       sync.Mutex
	first    uint64                  // oldest stored offset
	next     uint64                  // offset of the next record to commit
	logical  int64                   // bytes of stored records (keys + values)
	notify   chan struct{}           // closed and replaced by the first commit after a waitCh
	taken    bool                    // waitCh handed notify out since it was made
	cursors  map[string]*cursorState // registered cursors
	dirty    map[string]bool         // cursors to persist (deleted if absent from cursors)
	blocked  bool                    // retention could not reach the budget: cursors hold it back
	full     bool                    // the last append was refused with ErrFull
	dropped  uint64                  // records dropped by forced retention, all cursors
	lastTime int64                   // ingest time of the newest record, Unix ns

	st stats

	reclaimPending bool      // retention goroutine only: deletes not yet reclaimed
	dropEnd        uint64    // retention goroutine only: every chunk below it is deleted, durably (dropTables)
	gcFailed       string    // retention goroutine only: the last value-log GC error logged
	opened         time.Time // Open's time, with its monotonic reading: retention's running clock
	ages           *ageMarks // retention goroutine only

	wal *walWatch // syncAll only: has a memtable WAL been created since its last listing?
	// activeWAL is the newest memtable WAL (.mem) at syncAll's last listing,
	// open for fdatasync; nil until then. Owned by syncAll.
	activeWAL *os.File
	// vlogDirty says a commit wrote a value big enough for Badger's value
	// log (vlogThreshold) since syncAll last synced through Badger; until
	// then syncAll fsyncs the active WAL alone.
	vlogDirty     atomic.Bool
	vlogThreshold int
}

// stats are counters updated without locks.
type stats struct {
	appends, records, syncs, batches, fullErrors, droppedTables atomic.Uint64
	walScans                                                    atomic.Uint64 // syncAll listed the directory for rotated WALs
	walSyncs                                                    atomic.Uint64 // syncs of the active WAL alone
	syncNanos                                                   atomic.Uint64 // time spent in syncAll
}

// Open opens (creating if needed) the log stored in dir and recovers its
// offsets, cursors and size.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("storage options: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l := &Log{
		opts:    opts,
		prof:    profiles[opts.Profile],
		dir:     dir,
		log:     opts.Logger.With().Str("component", "storage").Logger(),
		reqs:    make(chan *request, 1024),
		done:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
		notify:  make(chan struct{}),
		cursors: map[string]*cursorState{},
		dirty:   map[string]bool{},
	}
	l.reserve = opts.MinFreeBytes
	if l.reserve == 0 {
		l.reserve = l.prof.reserve()
	}
	bo := l.prof.badger(dir, l.opts).WithLogger(badgerLogger{l.log})
	if l.opts.badgerOptions != nil {
		bo = l.opts.badgerOptions(bo)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, mapErr(err))
	}
	l.db = db
	l.writeEntries = db.WriteEntries
	l.vlogThreshold = int(db.Opts().ValueThreshold)
	if err := l.recover(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open log %s: recover: %w", dir, err)
	}
	if err := db.RecountDiscards(); err != nil {
		// The value-log GC then finds only what retention deletes from now on.
		l.log.Warn().Err(err).Msg("value log: garbage not recounted")
	}
	l.log.Info().Uint64("first", l.first).Uint64("next", l.next).Int64("bytes", l.logical).
		Int("cursors", len(l.cursors)).Str("durability", string(opts.Durability)).Msg("log opened")
	l.ages = newAgeMarks(l.next, opts.MaxAge)
	clock := openClock
	if opts.openClock != nil {
		clock = opts.openClock
	}
	var wall time.Time
	l.ages.boot, l.ages.bootAt, wall = clock()
	if opts.MaxAge == 0 {
		// The anchor serves max_age alone, and a key besides the records'
		// costs compactions: with it the bench (no max_age) peaked 3-5 MiB
		// higher, compactions reading four tables at once, and wrote 6%
		// more bytes (scripts/RESULTS.md, 2026-12-05, evening).
		l.ages.boot = ""
	}
	l.opened = time.Now()
	if err := l.loadClock(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.wal = newWALWatch(dir)
	w := newWriter(l)
	l.wg.Add(2)
	go w.run()
	// A step of the wall clock since the anchor an earlier process of this
	// boot stored counts before this process appends under the new clock;
	// and this process's anchor is stored at once.
	l.clockPass(wall, 0)
	go l.runRetention()
	return l, nil
}

// openClock reads the boot id and boot clock ("" when unknown) and the wall
// clock.
func openClock() (boot string, at time.Duration, wall time.Time) {
	id, at := bootClock()
	return id, at, time.Now()
}

// loadClock reads the clock steps earlier processes saw and the clock
// anchor the last one stored (clock.go).
func (l *Log) loadClock() error {
	return l.db.View(func(txn *badger.Txn) error {
		v, err := metaValue(txn, metaShiftsKey)
		if err != nil {
			return err
		}
		if v != nil {
			if l.ages.shifts, err = decodeShifts(v); err != nil {
				// The records are intact: only their shifts are lost.
				l.log.Warn().Err(err).Msg("clock steps not read: max_age goes by the records' stamps alone")
			}
		}
		for _, s := range l.ages.shifts {
			if s.to > l.first && l.opts.MaxAge > 0 {
				l.log.Info().Uint64("from", max(s.from, l.first)).Uint64("to", s.to).Dur("step", s.d).
					Msg("records logged before a step of the wall clock: max_age adds the step to their stamps")
			}
		}
		if v, err = metaValue(txn, metaClockKey); err != nil || v == nil {
			return err
		}
		c, err := decodeAnchor(v)
		if err != nil {
			l.log.Warn().Err(err).Msg("clock anchor not read: a step of the wall clock before this start counts for no record")
			return nil
		}
		if l.ages.resume(c) && c.since < l.next {
			l.log.Info().Uint64("from", max(c.since, l.first)).Uint64("to", l.next).
				Msg("records logged earlier in this boot: a step of the wall clock since then counts for them too")
		}
		return nil
	})
}

// metaValue returns a copy of key's value, nil when it is not stored.
func metaValue(txn *badger.Txn, key []byte) ([]byte, error) {
	it, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

// recover restores first/next offsets, the newest ingest time, the stored
// byte count and the cursors from Badger. Runs before any goroutine starts.
func (l *Log) recover() error {
	return l.db.View(func(txn *badger.Txn) error {
		floor := uint64(1)
		if it, err := txn.Get(metaFirstKey); err == nil {
			v, err := it.ValueCopy(nil)
			if err != nil || len(v) != 8 {
				return fmt.Errorf("%w: meta first", ErrCorrupt)
			}
			floor = binary.BigEndian.Uint64(v)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		l.first, l.next = floor, floor
		if err := l.recoverLast(txn); err != nil {
			return err
		}
		l.recoverBytes(txn)
		return l.loadCursors(txn)
	})
}

func (l *Log) recoverLast(txn *badger.Txn) error {
	it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{nsLog}})
	defer it.Close()
	it.Seek(logKey(^uint64(0)))
	if !it.Valid() {
		return nil
	}
	item := it.Item()
	first, n, ok := parseLogKey(item.Key())
	if !ok {
		return fmt.Errorf("%w: bad log key %x", ErrCorrupt, item.Key())
	}
	last := first + uint64(n) - 1
	var rec Record
	err := item.Value(func(v []byte) error {
		return chunkRecords(item.Key(), v, n, func(i int, b []byte) (bool, error) {
			if i < n-1 {
				return true, nil
			}
			var err error
			rec, err = DecodeRecord(b)
			return false, err
		})
	})
	if err == nil && rec.Offset != last {
		err = fmt.Errorf("%w: chunk's last record is %d", ErrCorrupt, rec.Offset)
	}
	if err != nil {
		return fmt.Errorf("offset %d: %w", last, err)
	}
	l.next = max(l.next, last+1)
	l.lastTime = timeNanos(rec.Time)
	return nil
}

// recoverBytes sums the sizes of the stored chunks holding records at or
// above first (keys only, no value reads), and sets dropEnd to the start of
// the chunk holding first: every chunk below it is deleted.
func (l *Log) recoverBytes(txn *badger.Txn) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsLog}})
	defer it.Close()
	l.dropEnd = l.first
	found := false
	for it.Seek(logKey(blockStart(l.first))); it.Valid(); it.Next() {
		if first, n, ok := parseLogKey(it.Item().Key()); ok && first+uint64(n) > l.first {
			if !found {
				l.dropEnd, found = first, true
			}
			l.logical += it.Item().EstimatedSize()
		}
	}
}

// Close stops accepting calls, commits everything already queued, persists
// cursors, fsyncs (unless durability is none), stops every goroutine the log
// started and closes Badger. Further calls return ErrClosed.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.done)
	close(l.reqs)
	l.closeMu.Unlock()
	// Shutdown order: retention stops and the writer drains the queue and
	// syncs (wg), then Badger closes; readers were woken by done.
	l.wg.Wait()
	l.wal.close()
	if l.activeWAL != nil {
		_ = l.activeWAL.Close()
	}
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	l.log.Info().Msg("log closed")
	return nil
}

// view runs fn in a Badger read transaction unless the log is closed.
func (l *Log) view(fn func(txn *badger.Txn) error) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return l.db.View(fn)
}

// bounds returns the published first and next offsets.
func (l *Log) bounds() (first, next uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first, l.next
}

// FirstOffset is the oldest offset still stored (== NextOffset when empty).
func (l *Log) FirstOffset() uint64 {
	f, _ := l.bounds()
	return f
}

// NextOffset is the offset the next appended record will get.
func (l *Log) NextOffset() uint64 {
	_, n := l.bounds()
	return n
}

// waitCh returns a channel closed at the next commit.
func (l *Log) waitCh() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.taken = true
	return l.notify
}

func putU64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }

func getU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

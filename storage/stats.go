package storage

import "time"

// Stats is a snapshot of the log's state and counters since Open.
type Stats struct {
	FirstOffset   uint64  // oldest stored offset
	NextOffset    uint64  // offset of the next record
	Records       uint64  // records stored (NextOffset - FirstOffset)
	Bytes         int64   // bytes of stored records (keys and values)
	DiskBytes     int64   // bytes the log directory occupies on disk
	Appends       uint64  // successful Append calls
	Appended      uint64  // records appended
	Syncs         uint64  // fsyncs issued
	WALSyncs      uint64  // of Syncs, those of the active memtable WAL alone (nothing new in the value log, no rotation)
	SyncSeconds   float64 // time spent syncing (SyncTime)
	Batches       uint64  // group commits that appended records
	MeanBatch     float64 // records per group commit
	Full          bool    // the latest append attempt was refused with ErrFull
	FullErrors    uint64  // group commits that refused appends with ErrFull
	DroppedTables uint64  // Badger tables retention deleted whole (DropRange) to free space
	Dropped       uint64  // records retention dropped before some cursor passed them
	Cursors       map[string]CursorStats
}

// CursorStats describes one named cursor.
type CursorStats struct {
	Next    uint64 // next offset the consumer needs
	Lag     uint64 // records stored at or after Next
	Dropped uint64 // records dropped by retention before this cursor passed them
}

// SyncTime returns the syncs made (Stats.Syncs) and the time spent
// syncing, failed attempts included, without Stats' directory walk.
func (l *Log) SyncTime() (syncs uint64, d time.Duration) {
	return l.st.syncs.Load(), time.Duration(l.st.syncNanos.Load())
}

// Stats returns a snapshot. It walks the directory for DiskBytes, so call it
// at metric-scrape rates, not per message.
func (l *Log) Stats() Stats {
	s := Stats{
		DiskBytes: diskBytes(l.dir),
		Appends:   l.st.appends.Load(), Appended: l.st.records.Load(),
		Syncs: l.st.syncs.Load(), WALSyncs: l.st.walSyncs.Load(), Batches: l.st.batches.Load(), FullErrors: l.st.fullErrors.Load(), DroppedTables: l.st.droppedTables.Load(),
		SyncSeconds: time.Duration(l.st.syncNanos.Load()).Seconds(),
	}
	if s.Batches > 0 {
		s.MeanBatch = float64(s.Appended) / float64(s.Batches)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.FirstOffset, s.NextOffset, s.Records = l.first, l.next, l.next-l.first
	s.Bytes, s.Full, s.Dropped = l.logical, l.full, l.dropped
	s.Cursors = make(map[string]CursorStats, len(l.cursors))
	for name, c := range l.cursors {
		s.Cursors[name] = CursorStats{Next: c.next, Lag: l.next - min(c.next, l.next), Dropped: c.dropped}
	}
	return s
}

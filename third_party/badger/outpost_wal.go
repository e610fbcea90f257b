package badger

// outpost: OUTPOST.md change 18, the memtable WAL zeroed ahead of its writes
// (logFile.zeroAhead in memtable.go).

// SetWALZeroAhead sets how far the memtable WALs are zeroed ahead of their
// writes from the next write on, as WithWALZeroAhead does at Open; 0 stops
// it. A caller that syncs often changes it as its syncs grow or shrink:
// zeros pay when a sync writes less than a few blocks, so that most syncs
// would otherwise write an allocation, and cost bytes when each sync
// allocates blocks anyway.
func (db *DB) SetWALZeroAhead(n int) { db.walZeroAhead.Store(int64(n)) }

// WALZeroAhead returns what SetWALZeroAhead or WithWALZeroAhead set.
func (db *DB) WALZeroAhead() int { return int(db.walZeroAhead.Load()) }

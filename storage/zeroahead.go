package storage

import "github.com/dgraph-io/badger/v4"

// walZeroAhead is how far past its writes the WAL is zeroed in fsync mode,
// on a journaled file system (journaledFS) and while syncs are small (the
// Badger copy's change 18). In a sparse WAL a sync that reached a new block
// also wrote its allocation: on ext4 with a journal, a gateway's usual root
// file system, a commit of the journal. BenchmarkFsyncWAL on a journaled
// ext4, 10 appenders: 31-35k records/s against 14-19k with the WAL sparse.
// In batch mode a sync covers 200 ms of writes: it is never on there.
const walZeroAhead = 256 << 10

// The syncs' mean size (bytes of the groups a sync covers, averaged over
// about the last 8) below which the zeroing turns on, and above which it
// turns off. The zeros are written once per WAL block. A sync of a few KiB
// reaches a new block every few syncs, and on a journaled ext4 each such
// sync committed the journal, about 16 KiB (the QoS 1 wait row: 13.1 KiB
// written to the device per sync sparse, 8.0 zeroed). A sync of tens of KiB
// reaches new blocks every time, and commits once either way: there the
// zeros only add bytes, as much as the WAL takes.
const (
	zeroAheadOnBelow  = 8 << 10
	zeroAheadOffAbove = 16 << 10
)

// zeroAhead is the syncer's switch for the WAL's zero-ahead. Owned by the
// syncer goroutine.
type zeroAhead struct {
	size int     // the zero-ahead Open set: walZeroAhead, or 0 (a test's peer) for never
	mean float64 // bytes per sync, a moving average
	off  bool    // the zeroing is off
}

// synced takes the groups one sync covered and turns db's zeroing on or off
// as the syncs' mean size crosses the thresholds.
func (z *zeroAhead) synced(db *badger.DB, batches []batch) {
	if z.size == 0 {
		return
	}
	var n int64
	for _, b := range batches {
		for _, r := range b.group {
			n += r.size
		}
	}
	z.mean += (float64(n) - z.mean) / 8
	switch {
	case !z.off && z.mean > zeroAheadOffAbove:
		z.off = true
		db.SetWALZeroAhead(0)
	case z.off && z.mean < zeroAheadOnBelow:
		z.off = false
		db.SetWALZeroAhead(z.size)
	}
}

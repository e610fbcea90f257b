package storage

import "github.com/dgraph-io/badger/v4"

// walZeroAhead is how far past its writes the WAL is zeroed in fsync mode
// while syncs are small, on ext4 and XFS (walFS; the Badger copy's change
// 18). In a sparse WAL a sync that reached a new block also wrote its
// allocation: on ext4 with a journal, a gateway's usual root file system, a
// commit of the journal; without one, the inode. BenchmarkFsyncWAL on a
// journaled ext4, 10 appenders: 23-32k records/s against 18-20k with the
// WAL sparse. In batch mode a sync covers 200 ms of writes: never on there.
const walZeroAhead = 256 << 10

// fsKind is what a sync that allocates a block costs on a file system.
type fsKind int

const (
	fsOther     fsKind = iota // no zeroing
	fsPlain                   // ext4 without a journal: the inode is written too
	fsJournaled               // ext4 with its journal, XFS: the journal is committed
)

// zeroAheadBelow is the syncs' mean size (bytes of the groups a sync
// covers, averaged over about the last 8) below which the zeroing turns on;
// above twice that it turns off. The zeros are written once per WAL block,
// as many bytes as the WAL takes; a sync that reaches a new block writes its
// allocation instead: about 16 KiB of journal on a journaled ext4 (the QoS 1
// wait row wrote 13.1 KiB to the device per sync sparse, 8.0 zeroed), the
// inode's 4 KiB block without a journal. A sync of tens of KiB reaches new
// blocks every time and allocates once either way: there the zeros only add
// bytes (scripts/footprint.sh's pipelined ingest, zeroing always: 27% more
// to the device).
var zeroAheadBelow = [...]float64{fsPlain: 2 << 10, fsJournaled: 8 << 10}

// zeroAhead is the syncer's switch for the WAL's zero-ahead. Owned by the
// syncer goroutine.
type zeroAhead struct {
	size  int     // walZeroAhead, or 0 where zeros do not pay (never on)
	below float64 // zeroAheadBelow for the log's file system
	mean  float64 // bytes per sync, a moving average
	off   bool    // the zeroing is off
}

// start turns db's zeroing on when the log's file system is one where it
// pays (walFS); the syncer then switches it with the syncs' size.
func (z *zeroAhead) start(db *badger.DB, fs fsKind) {
	if fs == fsOther {
		return
	}
	z.size, z.below = walZeroAhead, zeroAheadBelow[fs]
	db.SetWALZeroAhead(z.size)
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
	case !z.off && z.mean > 2*z.below:
		z.off = true
		db.SetWALZeroAhead(0)
	case z.off && z.mean < z.below:
		z.off = false
		db.SetWALZeroAhead(z.size)
	}
}

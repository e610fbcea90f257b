package badger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Counting the value log's garbage where it is made (outpost, OUTPOST.md
// change 13; the option is WithCallerDiscards).

// ValueLogEntry reports the value-log file that holds the item's value and
// the bytes its entry takes there. ok is false for a value kept in the LSM
// tree, and for an item without a value (a deleted or expired key).
func (item *Item) ValueLogEntry() (fid uint32, size uint32, ok bool) {
	if !item.hasValue() || item.meta&bitValuePointer == 0 {
		return 0, 0, false
	}
	var vp valuePointer
	vp.Decode(item.vptr)
	return vp.Fid, vp.Len, true
}

// AddDiscard tells the value-log GC that n more bytes of value-log file fid
// are garbage: entries of values the caller deleted or replaced, once that
// deletion is committed. RunValueLogGC picks the file with the largest share
// of garbage once that share passes the ratio it is given. A count that is too high
// costs the GC a rewrite of the file's live entries (it checks each entry
// against the LSM tree), never a value.
func (db *DB) AddDiscard(fid uint32, n int64) {
	if n <= 0 || db.opt.InMemory || db.opt.ReadOnly {
		return
	}
	db.vlog.discardStats.Update(fid, n)
}

// RecountDiscards sets the garbage of every value-log file but the one being
// written to what the live keys leave of it: its size, less its header and
// the entries that the latest version of a key points to. It reads every key
// (not its value) once. A caller that counts its deletions with AddDiscard
// runs it at open: counts made since the discard file was last written to
// disk are lost with a power cut, and without it their files would never
// reach a GC ratio.
func (db *DB) RecountDiscards() error {
	if db.opt.InMemory || db.opt.ReadOnly {
		return nil
	}
	type file struct {
		lf   *logFile
		live int64
	}
	files := map[uint32]*file{}
	db.vlog.filesLock.RLock()
	for fid, lf := range db.vlog.filesMap {
		if fid != db.vlog.maxFid {
			files[fid] = &file{lf: lf}
		}
	}
	db.vlog.filesLock.RUnlock()
	if len(files) == 0 {
		return nil
	}
	err := db.View(func(txn *Txn) error {
		it := txn.NewIterator(IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if fid, n, ok := it.Item().ValueLogEntry(); ok {
				if f := files[fid]; f != nil {
					f.live += int64(n)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recounting the value log's garbage: %w", err)
	}
	for fid, f := range files {
		fi, err := f.lf.Fd.Stat()
		if err != nil {
			return fmt.Errorf("recounting the value log's garbage: file %d: %w", fid, err)
		}
		db.vlog.discardStats.Update(fid, -1) // to zero
		db.vlog.discardStats.Update(fid, fi.Size()-vlogHeaderSize-f.live)
	}
	return nil
}

// readFloor returns the oracle's discard timestamp, below which no
// transaction reads, after marking a read at the newest commit and waiting
// up to 100 ms for the reads older than it; settled says whether they all
// ended, so that the floor is at least that commit. A deletion committed just
// before (retention's, then its GC) is then at or below the floor. Reads mark
// the oracle only as they begin and end, so without the mark the floor stays
// at the last read's timestamp.
//
// The value-log GC looks each entry's key up at the floor: a newer version
// found there hides the entry from every reader, and compactions drop the
// entry's version by the same rule. Until they do, the GC skips the entry
// instead of writing it back. With WithCallerDiscards the GC does not run
// while the floor is not settled (ErrGCReaders): a reader older than a
// deletion may still read what was deleted, so the GC would write it back,
// and those copies, deleted already, would never be counted as garbage.
func (db *DB) readFloor() (floor uint64, settled bool) {
	o := db.orc
	if o.isManaged {
		return o.discardAtOrBelow(), true
	}
	ts := o.readTs()
	o.readMark.Done(ts)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	settled = o.readMark.WaitForMark(ctx, ts) == nil
	return o.discardAtOrBelow(), settled
}

// ErrGCReaders is returned by RunValueLogGC, with WithCallerDiscards, when a
// transaction that began before the newest commit stays open through the
// GC's wait for it (100 ms). Run the GC again later (outpost, OUTPOST.md
// change 13).
var ErrGCReaders = errors.New("value log GC: a transaction older than the newest commit is still open")

// fileDiscard is one value-log file's discardable bytes.
type fileDiscard struct {
	fid     uint32
	discard int64
}

// all returns every file's discardable bytes that are not zero.
func (lf *discardStats) all() []fileDiscard {
	lf.Lock()
	defer lf.Unlock()
	var out []fileDiscard
	lf.Iterate(func(fid, discard uint64) {
		if discard > 0 {
			out = append(out, fileDiscard{uint32(fid), int64(discard)})
		}
	})
	return out
}

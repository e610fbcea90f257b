package badger

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
)

// Tests of OUTPOST.md change 15: a rotation of the value log leaves the
// rotated file's sync to the value log's sync, and the GC syncs the values
// it moved before it deletes their file.

// syncWatch counts the syncs of each value-log file (by id) while it is set.
type syncWatch struct {
	mu     sync.Mutex
	counts map[uint32]int
	seen   func(lf *logFile) // called for each value-log sync, under mu
}

func watchSyncs(t *testing.T) *syncWatch {
	w := &syncWatch{counts: map[uint32]int{}}
	h := func(lf *logFile) {
		if !strings.HasSuffix(lf.path, ".vlog") {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.counts[lf.fid]++
		if w.seen != nil {
			w.seen(lf)
		}
	}
	outpostSyncHook.Store(&h)
	t.Cleanup(func() { outpostSyncHook.Store(nil) })
	return w
}

func (w *syncWatch) take() map[uint32]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.counts
	w.counts = map[uint32]int{}
	return c
}

func TestOutpostRotationLeavesSyncToSync(t *testing.T) {
	w := watchSyncs(t)
	dir := t.TempDir()
	db := openDiscardDB(t, dir, true)    // value-log files of 1 MiB, every value in them
	for i := 0; i < discardValues; i++ { // 4 MiB: three rotations at least
		if err := db.Update(func(txn *Txn) error { return txn.Set(discardKey(i), discardValue(i)) }); err != nil {
			t.Fatal(err)
		}
	}
	if c := w.take(); len(c) != 0 {
		t.Fatalf("value-log syncs while writing without SyncWrites: %v; the rotations should leave them to Sync", c)
	}
	db.vlog.filesLock.RLock()
	rotated, head := append([]uint32(nil), db.vlog.unsynced...), db.vlog.maxFid
	db.vlog.filesLock.RUnlock()
	if len(rotated) < 3 {
		t.Fatalf("rotated files awaiting a sync: %v, want 3 or more", rotated)
	}
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	c := w.take()
	for _, fid := range append(rotated, head) {
		if c[fid] != 1 {
			t.Fatalf("Sync synced the value-log files %v; want each of %v and the head %d once", c, rotated, head)
		}
	}
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	if c := w.take(); len(c) != 1 || c[head] != 1 {
		t.Fatalf("the second Sync synced %v; want the head %d alone", c, head)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDiscardDB(t, dir, true)
	defer db.Close()
	err := db.View(func(txn *Txn) error {
		for i := 0; i < discardValues; i++ {
			item, err := txn.Get(discardKey(i))
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error {
				if !bytes.Equal(v, discardValue(i)) {
					t.Errorf("%s differs after a reopen", discardKey(i))
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The GC moves the live values out of the file it collects: they are synced
// before the file is deleted. Without it a power cut after the deletion
// could lose them (nothing synced the value-log head they went to).
func TestOutpostGCSyncsMovedValuesBeforeDeleting(t *testing.T) {
	dir := t.TempDir()
	db := openDiscardDB(t, dir, true)
	defer db.Close()
	for i := 0; i < discardValues; i++ {
		if err := db.Update(func(txn *Txn) error { return txn.Set(discardKey(i), discardValue(i)) }); err != nil {
			t.Fatal(err)
		}
	}
	// Delete every value of the first file but one, and report them.
	const first = 1
	var keep []byte
	var dels [][]byte
	var sizes []uint32
	err := db.View(func(txn *Txn) error {
		it := txn.NewIterator(DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			fid, n, ok := it.Item().ValueLogEntry()
			if !ok || fid != first {
				continue
			}
			if keep == nil {
				keep = it.Item().KeyCopy(nil)
				continue
			}
			dels = append(dels, it.Item().KeyCopy(nil))
			sizes = append(sizes, n)
		}
		return nil
	})
	if err != nil || keep == nil || len(dels) < 10 {
		t.Fatalf("first value-log file: kept %q, %d to delete, %v", keep, len(dels), err)
	}
	if err := db.Update(func(txn *Txn) error {
		for _, k := range dels {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		db.AddDiscard(first, int64(n))
	}
	if err := db.Sync(); err != nil { // nothing pending before the GC
		t.Fatal(err)
	}
	firstPath := db.vlog.fpath(first)
	w := watchSyncs(t)
	var beforeDelete bool
	w.seen = func(lf *logFile) {
		if _, err := os.Stat(firstPath); err == nil {
			beforeDelete = true
		}
	}
	if n, _ := runGC(db); n == 0 {
		t.Fatal("the GC collected nothing")
	}
	if _, err := os.Stat(firstPath); !os.IsNotExist(err) {
		t.Fatalf("the first value-log file is still there: %v", err)
	}
	if !beforeDelete {
		t.Fatalf("no value-log sync before the GC deleted the file it moved %q out of (syncs %v)", keep, w.take())
	}
	if err := db.View(func(txn *Txn) error {
		item, err := txn.Get(keep)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != len(discardValue(0)) {
				t.Errorf("%s: %d bytes after the GC", keep, len(v))
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

package badger

// outpost: tests of OUTPOST.md change 17 (an empty memtable WAL or value-log
// file at Open).

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOutpostOpenSkipsEmptyWAL: a process killed between the truncation and
// the removal of a flushed memtable's WAL (logFile.Delete) leaves an empty
// .mem file. Open removes it and opens the rest (OUTPOST.md change 17);
// upstream's Open failed with "Create a new file" every time.
func TestOutpostOpenSkipsEmptyWAL(t *testing.T) {
	dir := t.TempDir()
	opt := moveOpts(dir, nil, false)
	db, err := Open(opt)
	require.NoError(t, err)
	putKeys(t, db, keyRun("k", 0, 100)...)
	require.NoError(t, db.Close())
	for _, fid := range []int{0, 7} { // below and above the live WAL's
		empty := db.mtFilePath(fid)
		require.NoError(t, os.WriteFile(empty, nil, 0o666))
		db, err = Open(opt)
		require.NoError(t, err)
		_, err = os.Stat(empty)
		require.True(t, os.IsNotExist(err), "the empty WAL stays: %v", err)
		requireValues(t, db, keyRun("k", 0, 100))
		putKeys(t, db, fmt.Sprintf("after-%d", fid))
		require.NoError(t, db.Close())
	}
}

// TestOutpostOpenSkipsEmptyValueLog: the same for a value-log file, which the
// GC deletes the same way and a rotation creates before its header: an
// empty one below the newest is deleted, an empty newest one is used.
func TestOutpostOpenSkipsEmptyValueLog(t *testing.T) {
	dir := t.TempDir()
	opt := moveOpts(dir, nil, false).WithValueThreshold(1 << 10)
	db, err := Open(opt)
	require.NoError(t, err)
	big := make([]byte, 4<<10)
	require.NoError(t, db.Update(func(txn *Txn) error { return txn.Set([]byte("big"), big) }))
	require.NoError(t, db.Close())
	vlogs, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	require.NoError(t, err)
	require.NotEmpty(t, vlogs)
	for _, fid := range []uint32{0, 9} { // below the live files, then the newest
		empty := db.vlog.fpath(fid)
		require.NoError(t, os.WriteFile(empty, nil, 0o666))
		db, err = Open(opt)
		require.NoError(t, err)
		if fid == 0 {
			_, err = os.Stat(empty)
			require.True(t, os.IsNotExist(err), "the empty file below the newest stays: %v", err)
		}
		require.NoError(t, db.View(func(txn *Txn) error {
			item, err := txn.Get([]byte("big"))
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err == nil && len(v) != len(big) {
				err = fmt.Errorf("value of %d bytes", len(v))
			}
			return err
		}))
		require.NoError(t, db.Update(func(txn *Txn) error { return txn.Set([]byte(fmt.Sprint(fid)), big) }))
		require.NoError(t, db.Close())
	}
}

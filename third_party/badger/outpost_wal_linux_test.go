package badger

// outpost: tests of OUTPOST.md change 18 (the WAL zeroed ahead of its writes).

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// walAllocated returns the bytes the file system allocated to the live
// memtable's WAL (st_blocks; ext4 counts delayed allocations too), with the
// WAL's write offset.
func walAllocated(t *testing.T, db *DB) (allocated, writeAt int64) {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(db.mt.wal.path, &st))
	return st.Blocks * 512, int64(db.mt.wal.writeAt)
}

// TestOutpostWALZeroAhead: with WALZeroAhead the live WAL holds allocated,
// zeroed bytes ahead of its last write, and only then, until SetWALZeroAhead
// stops it; a WAL copied while the DB is open (what a crash leaves) replays
// every entry and nothing else.
func TestOutpostWALZeroAhead(t *testing.T) {
	const ahead = 64 << 10
	val := func(i int) []byte { return fmt.Appendf(nil, "%06d %s", i, bytes.Repeat([]byte("v"), 200)) }
	for _, zero := range []int{0, ahead} {
		t.Run(fmt.Sprintf("ahead=%d", zero), func(t *testing.T) {
			dir, image := t.TempDir(), t.TempDir()
			opt := DefaultOptions(dir).WithLogger(nil).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10).WithValueLogFileSize(1 << 20).WithWALZeroAhead(zero)
			db, err := Open(opt)
			require.NoError(t, err)
			defer func() { require.NoError(t, db.Close()) }()
			const n = 1500             // about 330 KiB of WAL: three times past the zeroed part, then 100 KiB more
			zeroed := map[int64]bool{} // the ends of the zeroed part seen
			var stopped int64          // where the zeroing stopped (SetWALZeroAhead(0) after entry 999)
			for i := 0; i < n; i++ {
				require.NoError(t, db.Update(func(txn *Txn) error {
					return txn.Set(fmt.Appendf(nil, "key-%06d", i), val(i))
				}))
				if i%100 != 99 {
					continue
				}
				allocated, at := walAllocated(t, db)
				if i == 999 && zero > 0 {
					db.SetWALZeroAhead(0) // from here on, as a WAL without the option
					stopped = db.mt.wal.zeroedTo
				}
				if stopped > 0 && at > stopped {
					require.Equal(t, stopped, db.mt.wal.zeroedTo, "entry %d: zeroed after SetWALZeroAhead(0)", i)
				}
				if zero == 0 || (stopped > 0 && at > stopped) {
					require.Less(t, allocated, at+16<<10, "a sparse WAL holds blocks where it was written only")
					continue
				}
				to := db.mt.wal.zeroedTo
				require.Greater(t, to, at, "entry %d: the WAL is not zeroed past its last write", i)
				require.LessOrEqual(t, to, at+ahead+4096, "entry %d: zeroed too far", i)
				require.GreaterOrEqual(t, allocated, to, "entry %d: the zeroed part has no blocks", i)
				require.Len(t, bytes.TrimLeft(db.mt.wal.Data[at:to], "\x00"), 0, "entry %d: the zeroed part holds bytes", i)
				zeroed[to] = true
			}
			if zero > 0 {
				require.GreaterOrEqual(t, len(zeroed), 3, "the writes passed the zeroed part %d times", len(zeroed))
				require.Greater(t, db.mt.wal.writeAt, uint32(stopped), "the writes did not pass where the zeroing stopped")
			}
			for _, e := range mustReadDir(t, dir) {
				if strings.HasSuffix(e, ".sst") {
					t.Fatalf("%s: the memtable was flushed, so nothing is left to replay", e)
				}
				b, err := os.ReadFile(filepath.Join(dir, e))
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(image, e), b, 0o600))
			}
			db2, err := Open(opt.WithDir(image).WithValueDir(image))
			require.NoError(t, err)
			defer func() { require.NoError(t, db2.Close()) }()
			keys := 0
			require.NoError(t, db2.View(func(txn *Txn) error {
				it := txn.NewIterator(DefaultIteratorOptions)
				defer it.Close()
				for it.Rewind(); it.Valid(); it.Next() {
					v, err := it.Item().ValueCopy(nil)
					if err != nil {
						return err
					}
					want := fmt.Sprintf("key-%06d", keys)
					if string(it.Item().Key()) != want || !bytes.Equal(v, val(keys)) {
						return fmt.Errorf("entry %d: key %q, value %.10q", keys, it.Item().Key(), v)
					}
					keys++
				}
				return nil
			}))
			require.Equal(t, n, keys)
		})
	}
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

package badger

// outpost: tests of OUTPOST.md change 16 (TableBoundary, MoveTables,
// DropRange).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// byFirstByte is a TableBoundary: keys with different first bytes go to
// different tables.
func byFirstByte(prev, next []byte) bool { return prev[0] != next[0] }

func moveOpts(dir string, boundary func(prev, next []byte) bool, move bool) Options {
	return DefaultOptions(dir).WithLogger(nil).WithNumCompactors(0).WithNumVersionsToKeep(1).
		WithTableBoundary(boundary).WithMoveTables(move)
}

// reopen closes db, which flushes its memtable to L0, and opens it again.
func reopen(t *testing.T, db *DB, opt Options) *DB {
	t.Helper()
	require.NoError(t, db.Close())
	db, err := Open(opt)
	require.NoError(t, err)
	return db
}

func putKeys(t *testing.T, db *DB, keys ...string) {
	t.Helper()
	wb := db.NewWriteBatch()
	for _, k := range keys {
		require.NoError(t, wb.Set([]byte(k), []byte("v-"+k)))
	}
	require.NoError(t, wb.Flush())
}

func deleteKeys(t *testing.T, db *DB, keys ...string) {
	t.Helper()
	wb := db.NewWriteBatch()
	for _, k := range keys {
		require.NoError(t, wb.Delete([]byte(k)))
	}
	require.NoError(t, wb.Flush())
}

func keyRun(prefix string, from, to int) []string {
	var ks []string
	for i := from; i < to; i++ {
		ks = append(ks, fmt.Sprintf("%s%04d", prefix, i))
	}
	return ks
}

// tableSpans lists each table as "level:smallest-biggest" (keys without
// their versions), sorted.
func tableSpans(db *DB) []string {
	var spans []string
	for _, ti := range db.Tables() {
		spans = append(spans, fmt.Sprintf("%d:%s-%s", ti.Level, parseKey(ti.Left), parseKey(ti.Right)))
	}
	sort.Strings(spans)
	return spans
}

func parseKey(k []byte) string { return string(k[:len(k)-8]) }

func tableIDs(db *DB) map[uint64]int {
	ids := map[uint64]int{}
	for _, ti := range db.Tables() {
		ids[ti.ID] = ti.Level
	}
	return ids
}

// compactLevel runs one compaction out of level as the compactors would.
func compactLevel(t *testing.T, db *DB, level int) {
	t.Helper()
	p := compactionPriority{level: level, score: 2, adjusted: 2, t: db.lc.levelTargets()}
	require.NoError(t, db.lc.doCompact(0, p))
}

func requireValues(t *testing.T, db *DB, keys []string) {
	t.Helper()
	require.NoError(t, db.View(func(txn *Txn) error {
		for _, k := range keys {
			item, err := txn.Get([]byte(k))
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if string(v) != "v-"+k {
				return fmt.Errorf("%s: value %q", k, v)
			}
		}
		return nil
	}))
}

func requireGone(t *testing.T, db *DB, keys []string) {
	t.Helper()
	require.NoError(t, db.View(func(txn *Txn) error {
		for _, k := range keys {
			if _, err := txn.Get([]byte(k)); !errors.Is(err, ErrKeyNotFound) {
				return fmt.Errorf("%s: got %v, want ErrKeyNotFound", k, err)
			}
		}
		return nil
	}))
}

// TestOutpostTableBoundarySplitsFlushAndCompaction: one memtable with keys
// of two namespaces flushes to one table per namespace; a table written
// without the boundary is split by its next compaction.
func TestOutpostTableBoundarySplitsFlushAndCompaction(t *testing.T) {
	dir := t.TempDir()
	a, b := keyRun("a", 0, 100), keyRun("b", 0, 100)

	opt := moveOpts(dir, nil, false)
	db, err := Open(opt)
	require.NoError(t, err)
	putKeys(t, db, append(a, b...)...)
	db = reopen(t, db, opt)
	require.Equal(t, []string{"0:a0000-b0099"}, tableSpans(db), "without a boundary, one table")

	opt = moveOpts(dir, byFirstByte, false)
	db = reopen(t, db, opt)
	putKeys(t, db, keyRun("a", 100, 200)...)
	putKeys(t, db, keyRun("b", 100, 200)...)
	db = reopen(t, db, opt)
	defer func() { require.NoError(t, db.Close()) }()
	require.Equal(t, []string{"0:a0000-b0099", "0:a0100-a0199", "0:b0100-b0199"}, tableSpans(db),
		"the flush with the boundary makes a table per namespace")

	compactLevel(t, db, 0) // the two oldest tables: they overlap, the third does not
	require.Equal(t, []string{"0:b0100-b0199", "6:a0000-a0199", "6:b0000-b0099"}, tableSpans(db),
		"the compaction splits the table written without the boundary")
	requireValues(t, db, append(append(a, b...), append(keyRun("a", 100, 200), keyRun("b", 100, 200)...)...))
}

// TestOutpostMoveTables: tables of keys written in increasing order reach
// the last level under their own ids, without a byte written, and read back
// after a reopen (the manifest has them at their new level). A table that a
// rewrite would change (a deleted key, a key with two versions) is
// rewritten.
func TestOutpostMoveTables(t *testing.T) {
	for _, move := range []bool{true, false} {
		t.Run(fmt.Sprintf("move=%v", move), func(t *testing.T) {
			dir := t.TempDir()
			opt := moveOpts(dir, byFirstByte, move)
			db, err := Open(opt)
			require.NoError(t, err)
			var all []string
			for i := 0; i < 3; i++ {
				ks := keyRun("k", i*100, (i+1)*100)
				all = append(all, ks...)
				putKeys(t, db, ks...)
				db = reopen(t, db, opt)
			}
			before := tableIDs(db)
			require.Len(t, before, 3)
			for range before {
				compactLevel(t, db, 0)
			}
			for l := db.lc.levelTargets().baseLevel; l < db.opt.MaxLevels-1; l++ {
				for db.lc.levels[l].numTables() > 0 {
					compactLevel(t, db, l)
				}
			}
			after := tableIDs(db)
			if move {
				require.GreaterOrEqual(t, db.lc.moves.Load(), int64(3), "a move per table at least")
				for id := range before {
					require.Equal(t, db.opt.MaxLevels-1, after[id], "table %d", id)
				}
			} else {
				require.Zero(t, db.lc.moves.Load())
				for id := range before {
					_, ok := after[id]
					require.False(t, ok, "table %d was not rewritten", id)
				}
			}
			db = reopen(t, db, opt)
			require.Equal(t, after, tableIDs(db))
			requireValues(t, db, all)

			// A deleted key, and a key written twice: both tables are rewritten.
			deleteKeys(t, db, "k0100")
			db = reopen(t, db, opt)
			putKeys(t, db, "k0400", "k0401")
			putKeys(t, db, "k0400")
			db = reopen(t, db, opt)
			moves := db.lc.moves.Load()
			compactLevel(t, db, 0)
			compactLevel(t, db, 0)
			require.Equal(t, moves, db.lc.moves.Load(), "a table a rewrite changes moved")
			requireGone(t, db, []string{"k0100"})
			requireValues(t, db, []string{"k0400", "k0401"})
			require.NoError(t, db.Close())
		})
	}
}

// TestOutpostDropRange: DropRange deletes the tables wholly inside the range
// (their files go), keeps the one that reaches past it, and keeps a table of
// tombstones while the values they delete are below it: dropping it would
// bring the values back.
func TestOutpostDropRange(t *testing.T) {
	dir := t.TempDir()
	opt := moveOpts(dir, byFirstByte, true)
	db, err := Open(opt)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	putKeys(t, db, "c-other")
	for i := 0; i < 4; i++ {
		putKeys(t, db, keyRun("k", i*100, (i+1)*100)...)
		db = reopen(t, db, opt)
	}
	for range tableIDs(db) {
		compactLevel(t, db, 0)
	}
	require.Equal(t, 5, len(db.Tables()))

	// Two tables lie in [k0000, k0250), the third reaches past it.
	n, err := db.DropRange([]byte("k"), []byte("k0250"))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, 3, len(db.Tables()))
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	require.NoError(t, err)
	require.Len(t, ssts, 3, "the dropped tables' files are deleted")
	requireGone(t, db, keyRun("k", 0, 200))
	requireValues(t, db, append(keyRun("k", 200, 400), "c-other"))

	// Tombstones over k0200..k0249, which the table below still holds.
	deleteKeys(t, db, keyRun("k", 200, 250)...)
	db = reopen(t, db, opt)
	n, err = db.DropRange([]byte("k"), []byte("k0250"))
	require.NoError(t, err)
	require.Zero(t, n, "the tombstones went while their values are below them")
	requireGone(t, db, keyRun("k", 0, 250))
	requireValues(t, db, keyRun("k", 250, 400))

	db = reopen(t, db, opt)
	requireGone(t, db, keyRun("k", 0, 250))
	requireValues(t, db, append(keyRun("k", 250, 400), "c-other"))
	_, err = os.Stat(dir)
	require.NoError(t, err)
}

package badger

// outpost: tables that move instead of being rewritten, and whole tables
// dropped by key range (OUTPOST.md change 16; TableBoundary's part is in
// buildL0Table and subcompact).

import (
	"bytes"

	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
)

// canMove says whether cd can move its one table to the next level instead
// of rewriting it: MoveTables is set, nothing in the next level overlaps the
// table, no prefix is being dropped, and the table holds no stale data, which
// a rewrite would drop: no deleted or expired entry, no older version (the
// flush counts them with MoveTables set, compactions always do). Moving is
// correct with stale data too, as it keeps every entry where a rewrite might
// drop some; the check only keeps garbage from travelling down unread. An
// entry that expires after its table was built is not counted.
func (s *levelsController) canMove(cd compactDef) bool {
	if !s.kv.opt.MoveTables || cd.thisLevel == cd.nextLevel || len(cd.top) != 1 || len(cd.bot) != 0 ||
		len(cd.dropPrefixes) != 0 {
		return false
	}
	t := cd.top[0]
	return !t.IsInmemory && t.StaleDataSize() == 0
}

// moveTable moves cd's one table to the next level: the manifest first, as a
// compaction records its tables before it changes the levels, then the next
// level takes a reference before this level drops its own, so the file
// stays.
func (s *levelsController) moveTable(id int, cd compactDef) error {
	t := cd.top[0]
	err := s.kv.manifest.addChanges([]*pb.ManifestChange{
		newDeleteChange(t.ID()),
		newCreateChange(t.ID(), cd.nextLevel.level, t.KeyID(), t.CompressionType()),
	}, s.kv.opt)
	if err != nil {
		return err
	}
	if err := cd.nextLevel.replaceTables(nil, cd.top); err != nil {
		return err
	}
	if err := cd.thisLevel.deleteTables(cd.top); err != nil {
		return err
	}
	if cd.thisLevel.level == 0 {
		cd.thisLevel.signalL0Drained()
	}
	s.moves.Add(1)
	s.kv.opt.Debugf("[%d] LOG Move %d->%d table %05d (%d bytes)", id, cd.thisLevel.level,
		cd.nextLevel.level, t.ID(), t.Size())
	return nil
}

// DropRange deletes every table whose keys all lie in [start, end) and that
// no table below it overlaps (on a level below, or another on L0), and
// returns how many it deleted (outpost, OUTPOST.md change 16). So no older
// version of a key comes back, and the tables go from the last level up.
// Unlike DropPrefix it neither blocks writes nor flushes the memtables nor
// rewrites a table: keys of the range in a memtable, in a table that also
// holds keys outside it, or in one that an older table overlaps (a table of
// tombstones over the values they delete) stay for the caller's tombstones
// and compactions to remove, and a table that a compaction is working on is
// skipped. The value-log entries of the dropped tables are not counted as
// garbage (see WithCallerDiscards).
func (db *DB) DropRange(start, end []byte) (int, error) {
	if db.IsClosed() {
		return 0, ErrDBClosed
	}
	return db.lc.dropRange(start, end)
}

func (s *levelsController) dropRange(start, end []byte) (int, error) {
	within := func(t *table.Table) bool {
		return bytes.Compare(y.ParseKey(t.Smallest()), start) >= 0 &&
			bytes.Compare(y.ParseKey(t.Biggest()), end) < 0
	}
	dropped := 0
	// From the last level up, as DropPrefix goes: older versions first.
	for i := len(s.levels) - 1; i >= 0; i-- {
		l := s.levels[i]
		l.RLock()
		var cands []*table.Table
		for j, t := range l.tables {
			if within(t) && !t.IsInmemory && (i > 0 || !overlapsAnyBut(l.tables, j)) {
				cands = append(cands, t)
			}
		}
		l.RUnlock()
		for _, t := range cands {
			kr := getKeyRange(t)
			if !s.cstatus.reserveTable(i, kr, t) {
				continue // a compaction has it
			}
			if !l.holds(t) || s.overlapsBelow(i, kr) { // a compaction took it, or one below overlaps
				s.cstatus.releaseTable(i, kr, t)
				continue
			}
			err := s.kv.manifest.addChanges([]*pb.ManifestChange{newDeleteChange(t.ID())}, s.kv.opt)
			if err == nil {
				err = l.deleteTables([]*table.Table{t})
			}
			s.cstatus.releaseTable(i, kr, t)
			if err != nil {
				return dropped, err
			}
			if i == 0 {
				l.signalL0Drained()
			}
			dropped++
		}
	}
	return dropped, nil
}

// reserveTable marks t, with key range kr on level, as being compacted,
// unless a compaction already works on that range of the level or on t.
func (cs *compactStatus) reserveTable(level int, kr keyRange, t *table.Table) bool {
	cs.Lock()
	defer cs.Unlock()
	if cs.levels[level].overlapsWith(kr) {
		return false
	}
	if _, ok := cs.tables[t.ID()]; ok {
		return false
	}
	cs.levels[level].ranges = append(cs.levels[level].ranges, kr)
	cs.tables[t.ID()] = struct{}{}
	return true
}

func (cs *compactStatus) releaseTable(level int, kr keyRange, t *table.Table) {
	cs.Lock()
	defer cs.Unlock()
	y.AssertTrue(cs.levels[level].remove(kr))
	delete(cs.tables, t.ID())
}

func (s *levelHandler) holds(t *table.Table) bool {
	s.RLock()
	defer s.RUnlock()
	for _, u := range s.tables {
		if u == t {
			return true
		}
	}
	return false
}

// overlapsAnyBut says whether another of L0's tables overlaps tables[j]. Any
// other: L0 is not kept in the order the tables were made (an L0 to L0
// compaction sorts it).
func overlapsAnyBut(tables []*table.Table, j int) bool {
	kr := getKeyRange(tables[j])
	for i, t := range tables {
		if i != j && kr.overlapsWith(getKeyRange(t)) {
			return true
		}
	}
	return false
}

// overlapsBelow says whether a table on a level below level overlaps kr.
func (s *levelsController) overlapsBelow(level int, kr keyRange) bool {
	for _, l := range s.levels[level+1:] {
		l.RLock()
		left, right := l.overlappingTables(levelHandlerRLocked{}, kr)
		l.RUnlock()
		if right > left {
			return true
		}
	}
	return false
}

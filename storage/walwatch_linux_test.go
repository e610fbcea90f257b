//go:build linux

package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWALWatchSeesMemtableFiles(t *testing.T) {
	dir := t.TempDir()
	w := newWALWatch(dir)
	defer w.close()
	if w.fd < 0 {
		t.Skip("inotify is not available here (fs.inotify.max_user_instances?)")
	}
	touch := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !w.rotated() {
		t.Fatal("a new watch must list what is there first")
	}
	w.listed()
	if w.rotated() {
		t.Fatal("nothing was created, yet the watch says a WAL was")
	}
	touch("000001.sst")
	touch("MANIFEST")
	if w.rotated() {
		t.Fatal("a table and a manifest are not WALs")
	}
	touch("00002.mem")
	if !w.rotated() || !w.rotated() {
		t.Fatal("a created .mem file must be reported until it is listed")
	}
	w.listed()
	if w.rotated() {
		t.Fatal("the .mem file was listed, yet still reported")
	}
	// Renamed into the directory counts as created.
	tmp := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "00003.mem")); err != nil {
		t.Skipf("rename across temp dirs: %v", err)
	}
	if !w.rotated() {
		t.Fatal("a .mem file moved in was not reported")
	}
}

// TestSyncListsWALsOnlyAfterRotation: in fsync mode every sync used to list
// the directory for rotated memtable WALs. Now only the first sync and
// those after Badger created a new WAL do, and a rotation is still caught.
func TestSyncListsWALsOnlyAfterRotation(t *testing.T) {
	l := openTest(t, "", func(o *Options) { o.Durability = DurabilityFsync })
	if l.wal.fd < 0 {
		t.Skip("inotify is not available here (fs.inotify.max_user_instances?)")
	}
	ctx := context.Background()
	appendOne := func(payload []byte) {
		t.Helper()
		if _, err := l.Append(ctx, []Record{{Topic: "t", Payload: payload}}); err != nil {
			t.Fatal(err)
		}
	}
	appendOne([]byte("first"))
	base := l.st.walScans.Load()
	if base == 0 {
		t.Fatal("the first sync did not list the WALs")
	}
	for range 100 {
		appendOne([]byte("small"))
	}
	if n := l.st.walScans.Load(); n != base {
		t.Fatalf("100 syncs without a rotation listed the directory %d times", n-base)
	}
	// Fill more than the pi profile's 2 MiB memtable: Badger rotates it.
	fillUntil(t, l, func() bool { return l.st.walScans.Load() != base }, "no sync noticed a memtable rotation")
}

// fillUntil appends batches of 3 KB records (50: 150 KB, under pi's limit on
// one Append) until done, or fails with why once 60 MB went in.
func fillUntil(t *testing.T, l *Log, done func() bool, why string) {
	t.Helper()
	big := []byte(strings.Repeat("x", 3000))
	for !done() {
		recs := make([]Record, 50)
		for i := range recs {
			recs[i] = Record{Topic: "t", Payload: big}
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		if l.NextOffset() > 20000 {
			t.Fatal("60 MB appended and " + why)
		}
	}
}

// TestSyncWALAloneUntilValueLogWritten: between rotations a sync fdatasyncs
// the active memtable WAL alone, which holds every small value; a commit
// that wrote a value big enough for Badger's value log makes the next sync
// go through Badger (WAL and value log), once; after a rotation the log
// syncs the newest WAL.
func TestSyncWALAloneUntilValueLogWritten(t *testing.T) {
	l := openTest(t, "", func(o *Options) { o.Durability = DurabilityFsync })
	if l.wal.fd < 0 {
		t.Skip("inotify is not available here (fs.inotify.max_user_instances?)")
	}
	ctx := context.Background()
	// appendOne appends one record and returns the syncs it took: through
	// Badger, and of the WAL alone.
	appendOne := func(payload int) (full, walOnly uint64) {
		t.Helper()
		before := l.Stats()
		if _, err := l.Append(ctx, []Record{{Topic: "t", Payload: make([]byte, payload)}}); err != nil {
			t.Fatal(err)
		}
		after := l.Stats()
		walOnly = after.WALSyncs - before.WALSyncs
		return after.Syncs - before.Syncs - walOnly, walOnly
	}
	// The first sync is Open's, when it stores the clock anchor (clock.go),
	// or else the first append's.
	if st := l.Stats(); st.Syncs > 0 {
		if full := st.Syncs - st.WALSyncs; full != 1 {
			t.Fatalf("the first sync lists the WALs through Badger: %d such syncs in Open", full)
		}
	} else if full, _ := appendOne(10); full != 1 {
		t.Fatalf("the first sync lists the WALs through Badger: %d such syncs", full)
	}
	newestWAL := func() string {
		t.Helper()
		mems, err := filepath.Glob(filepath.Join(l.dir, "*.mem"))
		if err != nil || len(mems) == 0 {
			t.Fatalf("no memtable WAL in %s: %v", l.dir, err)
		}
		newest := mems[0]
		for _, m := range mems { // same-width names (%05d) compare as numbers
			if len(m) > len(newest) || len(m) == len(newest) && m > newest {
				newest = m
			}
		}
		return newest
	}
	if l.activeWAL == nil || l.activeWAL.Name() != newestWAL() {
		t.Fatalf("active WAL %v, newest in the directory %s", l.activeWAL, newestWAL())
	}
	for i := 0; i < 20; i++ {
		if full, walOnly := appendOne(10); full != 0 || walOnly != 1 {
			t.Fatalf("small record %d: %d syncs through Badger, %d of the WAL alone; want 0 and 1", i, full, walOnly)
		}
	}
	if full, walOnly := appendOne(l.vlogThreshold + 10); full != 1 || walOnly != 0 {
		t.Fatalf("a record for the value log: %d syncs through Badger, %d of the WAL alone; want 1 and 0", full, walOnly)
	}
	if l.vlogDirty.Load() {
		t.Fatal("the value log was synced, yet still marked dirty")
	}
	if full, walOnly := appendOne(10); full != 0 || walOnly != 1 {
		t.Fatalf("after the value log's sync: %d syncs through Badger, %d of the WAL alone; want 0 and 1", full, walOnly)
	}
	// Rotate the memtable: the next sync goes through Badger and lists, then
	// the WAL-only syncs are of the new WAL.
	first := l.activeWAL.Name()
	fillUntil(t, l, func() bool { return l.activeWAL.Name() != first }, "the active WAL never changed")
	if full, walOnly := appendOne(10); full != 0 || walOnly != 1 {
		t.Fatalf("after the rotation: %d syncs through Badger, %d of the WAL alone; want 0 and 1", full, walOnly)
	}
	if l.activeWAL.Name() != newestWAL() {
		t.Fatalf("after the rotation the active WAL is %s, the newest %s", l.activeWAL.Name(), newestWAL())
	}
}

// TestFsyncZeroesWALAhead: in fsync mode on a journaled file system the
// memtable WAL's blocks are allocated walZeroAhead bytes ahead of its writes
// while syncs are small
// (Badger copy's change 18), so a sync writes data, not an allocation; syncs
// of tens of KiB turn it off, small ones on again. Batch mode, which syncs
// 200 ms of writes at once, leaves the WAL sparse.
func TestFsyncZeroesWALAhead(t *testing.T) {
	defer func(f func(string) fsKind) { walFS = f }(walFS)
	walFS = func(string) fsKind { return fsJournaled } // what TMPDIR is on does not matter here
	for _, mode := range []Durability{DurabilityFsync, DurabilityBatch} {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, func(o *Options) { o.Durability = mode })
			if _, err := l.Append(context.Background(), []Record{rec(1)}); err != nil {
				t.Fatal(err)
			}
			mems, err := filepath.Glob(filepath.Join(dir, "*.mem"))
			if err != nil || len(mems) != 1 {
				t.Fatalf("WALs %v, %v: want one", mems, err)
			}
			var st unix.Stat_t
			if err := unix.Stat(mems[0], &st); err != nil {
				t.Fatal(err)
			}
			allocated := st.Blocks * 512
			if mode == DurabilityBatch {
				if allocated >= walZeroAhead || l.db.WALZeroAhead() != 0 {
					t.Fatalf("batch: the WAL has %d bytes allocated after one record, zero-ahead %d", allocated, l.db.WALZeroAhead())
				}
				return
			}
			if allocated < walZeroAhead {
				t.Fatalf("fsync: the WAL has %d bytes allocated after one record, want %d ahead", allocated, walZeroAhead)
			}
			big := make([]Record, 300) // about 50 KB a sync
			for i := range big {
				big[i] = rec(i)
			}
			for i := 0; i < 20; i++ {
				if _, err := l.Append(context.Background(), big); err != nil {
					t.Fatal(err)
				}
			}
			if n := l.db.WALZeroAhead(); n != 0 {
				t.Fatalf("after 20 syncs of 300 records the WAL is still zeroed %d bytes ahead", n)
			}
			for i := 0; i < 40; i++ {
				if _, err := l.Append(context.Background(), []Record{rec(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if n := l.db.WALZeroAhead(); n != walZeroAhead {
				t.Fatalf("after 40 syncs of one record the WAL is zeroed %d bytes ahead, want %d", n, walZeroAhead)
			}
		})
	}
}

// TestWalFS: tmpfs gets no zeros; ext4 is journaled when jbd2 lists its
// device (this box's root ext4 has no journal, a loop-mounted mkfs.ext4 one
// has); OUTPOST_JOURNALED_DIR names a directory that must read journaled.
func TestWalFS(t *testing.T) {
	if _, err := os.Stat("/dev/shm"); err == nil && walFS("/dev/shm") != fsOther {
		t.Fatalf("tmpfs (/dev/shm) reads as %d", walFS("/dev/shm"))
	}
	if dir := os.Getenv("OUTPOST_JOURNALED_DIR"); dir != "" && walFS(dir) != fsJournaled {
		t.Fatalf("%s reads as %d, not journaled", dir, walFS(dir))
	}
	t.Logf("TMPDIR %s: %d (0 other, 1 ext4 without a journal, 2 journaled)", os.TempDir(), walFS(os.TempDir()))
}

//go:build linux

package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	// Fill more than the pi profile's 4 MiB memtable: Badger rotates it.
	big := []byte(strings.Repeat("x", 3000))
	for l.st.walScans.Load() == base {
		recs := make([]Record, 100)
		for i := range recs {
			recs[i] = Record{Topic: "t", Payload: big}
		}
		if _, err := l.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if l.NextOffset() > 20000 {
			t.Fatal("60 MB appended and no sync noticed a memtable rotation")
		}
	}
}

//go:build linux

package storage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// mappedRSS is the resident bytes of Badger's files under dir mapped into
// this process (the Rss lines of /proc/self/smaps), of those ending in ext
// when not "".
func mappedRSS(dir, ext string) (int64, error) {
	var n int64
	ours := false // the current block maps one of Badger's files
	err := scanMaps("/proc/self/smaps", dir, func(line, prefix string) error {
		if rest, ok := strings.CutPrefix(line, "Rss:"); ok {
			if ours {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				n += kb << 10
			}
			return nil
		}
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			m, ok := parseMapping(line, prefix) // a block header: a new mapping
			ours = ok && (ext == "" || m.ext == ext)
		}
		return nil
	})
	return n, err
}

// fillRandom appends n records of 100 incompressible bytes, so Badger's
// tables are as big as the data.
func fillRandom(t testing.TB, l *Log, n int) {
	t.Helper()
	recs := make([]Record, 0, 1000)
	for i := 0; i < n; i += cap(recs) {
		recs = recs[:0]
		for j := range cap(recs) {
			p := make([]byte, 100)
			_, _ = rand.Read(p)
			recs = append(recs, Record{Topic: "t", Payload: p, QoS: byte(j % 2)})
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
}

// waitQuiet returns once Badger's tree has kept the same tables for 300 ms:
// a compaction that writes tables between a release pass and the test's
// measurement would leave pages the pass could not advise.
func waitQuiet(t *testing.T, l *Log) {
	t.Helper()
	prev := tableIDs(l.db)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		cur := tableIDs(l.db)
		if maps.Equal(prev, cur) {
			return
		}
		prev = cur
	}
	t.Fatal("Badger still compacting after 20 s")
}

func skipUnderEmulator(t *testing.T) {
	t.Helper()
	if emu := os.Getenv(selfExecEnv); emu != "" {
		t.Skipf("under %s: qemu-user accepts madvise and does nothing, so there is nothing to measure", emu)
	}
}

// tablesLog opens a log in a new directory (pi profile, with no release
// passes but the test's own), appends n records of fillRandom, and returns
// once every record is in tables and Badger has stopped compacting.
func tablesLog(t *testing.T, n int) (string, *Log) {
	t.Helper()
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.noRelease = true })
	fillRandom(t, l, n)
	if err := l.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	waitQuiet(t, l)
	return dir, l
}

// residentAt logs and returns the resident bytes of Badger's files under
// dir ending in ext (".sst", or "" for every file) at the test's step.
func residentAt(t *testing.T, dir, step, ext string) int64 {
	t.Helper()
	b, err := mappedRSS(dir, ext)
	if err != nil {
		t.Fatal(err)
	}
	kind := "table"
	if ext == "" {
		kind = "all of Badger's"
	}
	t.Logf("%s: %d KiB of %s files resident", step, b>>10, kind)
	return b
}

// TestReleaseNewTablesUntilFull: a pass advises the tables it has not
// advised before, and leaves the pages a read brought back into the others
// to the next full pass, which hands back those of every file; the log
// still reads every record afterwards.
func TestReleaseNewTablesUntilFull(t *testing.T) {
	skipUnderEmulator(t)
	const n = 100_000
	dir, l := tablesLog(t, n)
	r := newReleaser(l)
	resident := func(step, ext string) int64 { return residentAt(t, dir, step, ext) }
	readAll := func() {
		t.Helper()
		if got, err := l.Read(context.Background(), 1, n+1); err != nil || len(got) != n {
			t.Fatalf("read %d of %d records: %v", len(got), n, err)
		}
	}
	if _, err := r.release(false, false); err != nil { // every table is new to it
		t.Fatal(err)
	}
	first := resident("after the first pass", ".sst")
	readAll()
	read, readFiles := resident("after a read of the whole log", ".sst"), resident("after a read of the whole log", "")
	if read < 1<<20 || first > read/4 {
		t.Fatalf("the first pass left %d KiB of %d KiB that a read brings back", first>>10, read>>10)
	}
	if _, err := r.release(false, false); err != nil {
		t.Fatal(err)
	}
	if again := resident("after a second pass, no table new", ".sst"); again < read/2 {
		t.Fatalf("a pass with no new table released %d KiB of %d KiB: it advised every table", (read-again)>>10, read>>10)
	}
	if _, err := r.release(true, true); err != nil {
		t.Fatal(err)
	}
	if full := resident("after a full pass", ""); full > readFiles/4 {
		t.Fatalf("a full pass left %d KiB of %d KiB", full>>10, readFiles>>10)
	}
	readAll()
}

// TestReleaseWhenMappedPagesRegrow: with nothing appended and no full pass
// due, a pass still advises every table once the process's mapped file
// pages grew by regrowBytes (a compaction reading its input tables, a
// subscriber reading the log), and not before.
func TestReleaseWhenMappedPagesRegrow(t *testing.T) {
	skipUnderEmulator(t)
	const n = 100_000
	dir, l := tablesLog(t, n)
	r := newReleaser(l)
	now := time.Now()
	if _, err := r.pass(now); err != nil { // the first pass is a full one
		t.Fatal(err)
	}
	tables := func(step string) int64 { return residentAt(t, dir, step, ".sst") }
	first := tables("after the first pass")
	if got, err := l.Read(context.Background(), 1, 10); err != nil || len(got) != 10 {
		t.Fatalf("read %d of 10 records: %v", len(got), err)
	}
	now = now.Add(time.Second)
	if adv, err := r.pass(now); err != nil || adv != 0 {
		t.Fatalf("a pass after a small read advised %d bytes (%v); want none: nothing appended, pages not regrown", adv, err)
	}
	if got, err := l.Read(context.Background(), 1, n+1); err != nil || len(got) != n {
		t.Fatalf("read %d of %d records: %v", len(got), n, err)
	}
	read := tables("after a read of the whole log")
	if read-first < regrowBytes {
		t.Fatalf("the read brought back %d KiB of tables, want at least %d KiB for this test", (read-first)>>10, regrowBytes>>10)
	}
	now = now.Add(time.Second)
	if _, err := r.pass(now); err != nil {
		t.Fatal(err)
	}
	if after := tables("after the next pass"); after > read/4 {
		t.Fatalf("a pass after %d KiB of table pages came back left %d KiB of them", (read-first)>>10, after>>10)
	}
}

// TestReleaseValueLogAsItGrows: records big enough for the value log, read
// through its mapping 2 MiB between passes (under regrowBytes each), do not
// pile up in the value log's mapped pages until the next full pass: growth
// adds up from its low point. Appends and Read map no pages of the value log
// (Badger writes it with pwritev and ValueCopy reads it with pread: its
// OUTPOST.md, changes 10 and 11), and Read is checked for that here; Badger's
// value-log GC and Item.Value (OffsetAt's probes) still read through the
// mapping, as this test does.
func TestReleaseValueLogAsItGrows(t *testing.T) {
	skipUnderEmulator(t)
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.noRelease = true })
	r := newReleaser(l)
	payload := make([]byte, 4*l.prof.valueThreshold) // 256 KiB with pi: into the value log
	const steps, perStep = 16, 8
	for i := 0; i < steps*perStep; i++ {
		_, _ = rand.Read(payload)
		if _, err := l.Append(context.Background(), []Record{{Topic: "cam", QoS: 1, Payload: payload}}); err != nil {
			t.Fatal(err)
		}
	}
	written := int64(steps * perStep * len(payload))
	if b, err := mappedRSS(dir, ".vlog"); err != nil || b > written/4 {
		t.Fatalf("%d KiB of the value log resident after %d MiB appended (%v): appends map its pages", b>>10, written>>20, err)
	}
	now := time.Now()
	if _, err := r.pass(now); err != nil { // the first pass is a full one
		t.Fatal(err)
	}
	var peak int64
	if got, err := l.Read(context.Background(), 1, steps*perStep); err != nil || len(got) != steps*perStep {
		t.Fatalf("read %d of %d records: %v", len(got), steps*perStep, err)
	}
	if b, err := mappedRSS(dir, ".vlog"); err != nil || b > written/4 {
		t.Fatalf("%d KiB of the value log resident after Read read %d MiB (%v): Read maps its pages", b>>10, written>>20, err)
	}
	for step := 0; step < steps; step++ {
		readMapped(t, l, uint64(step*perStep+1), perStep)
		now = now.Add(500 * time.Millisecond) // no full pass due: 8 s in all
		if _, err := r.pass(now); err != nil {
			t.Fatal(err)
		}
		b, err := mappedRSS(dir, ".vlog")
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, b)
	}
	t.Logf("%d MiB read through the value log's mapping; at most %d KiB of it resident after a pass", written>>20, peak>>10)
	if peak > 2*regrowBytes {
		t.Fatalf("%d KiB of the value log resident after a pass, of %d MiB read in steps of %d MiB", peak>>10, written>>20, perStep*len(payload)>>20)
	}
}

// readMapped reads n chunks from offset from on through Badger's mapping of
// its files (Item.Value), reading every byte of each value.
func readMapped(t *testing.T, l *Log, from uint64, n int) {
	t.Helper()
	err := l.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{nsLog}})
		defer it.Close()
		if _, _, err := seekChunk(it, from); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if !it.Valid() {
				return fmt.Errorf("%d of %d chunks from offset %d", i, n, from)
			}
			if err := it.Item().Value(func(v []byte) error {
				if bytes.Count(v, []byte{0}) == len(v) { // reads every byte
					return fmt.Errorf("chunk %d of %d from offset %d is zeros", i, n, from)
				}
				return nil
			}); err != nil {
				return err
			}
			it.Next()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func init() { releaseChild = releaseChildMain }

// releaseChildMain appends in batch mode, releases the WAL's pages (dirty:
// no sync has written them), appends more, reports the WAL's resident bytes
// before and after the release, and waits to be killed.
func releaseChildMain(dir string) int {
	o := DefaultOptions()
	o.NodeID, o.Durability = "release", DurabilityBatch
	l, err := Open(dir, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	appendSeq := func(from, n int) error {
		recs := make([]Record, 0, n)
		for i := from; i < from+n; i++ {
			recs = append(recs, Record{Topic: "t", Payload: fmt.Appendf(nil, "%06d %s", i, strings.Repeat("p", 200))})
		}
		_, err := l.Append(context.Background(), recs)
		return err
	}
	for i := 0; i < 4000; i += 100 {
		if err := appendSeq(i, 100); err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			return 2
		}
	}
	before, err1 := mappedRSS(dir, ".mem")
	_, err2 := newReleaser(l).release(false, false)
	after, err3 := mappedRSS(dir, ".mem")
	if err := errors.Join(err1, err2, err3); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		return 2
	}
	if err := appendSeq(4000, 1000); err != nil { // into pages the release took away
		fmt.Fprintln(os.Stderr, "append:", err)
		return 2
	}
	fmt.Printf("wal %d %d\n", before, after)
	select {} // killed
}

// TestReleasedWALSurvivesKill: the WAL's dirty pages are in the page cache,
// not in the process: since Badger's change 8 it writes them with write(2),
// so about 900 KB of records leave no more than the WAL's header page
// mapped (before that they were all resident until the release advised them
// away with MADV_DONTNEED). A process killed after the release, before any
// sync, loses none of the records in them.
func TestReleasedWALSurvivesKill(t *testing.T) {
	skipUnderEmulator(t)
	dir := t.TempDir()
	cmd := selfCommand("-test.run=^$")
	cmd.Env = append(os.Environ(), releaseDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startSelf(t, cmd)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var before, after int64
	if _, err := fmt.Sscanf(line, "wal %d %d", &before, &after); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	t.Logf("WAL resident in the child: %d KiB before the release, %d KiB after", before>>10, after>>10)
	if before > 64<<10 || after > before {
		t.Fatalf("%d KiB of the WAL resident before the release and %d KiB after, want at most 64 KiB", before>>10, after>>10)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l := openTest(t, dir, nil)
	got, err := l.Read(context.Background(), 1, 6000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5000 {
		t.Fatalf("%d records after the kill, want 5000", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("%06d ", i); !strings.HasPrefix(string(r.Payload), want) {
			t.Fatalf("record %d: payload %.10q, want it to start %q", i+1, r.Payload, want)
		}
	}
}

// TestNewestWAL: only the newest WAL, mapped the same before and after the
// pin, is advised.
func TestNewestWAL(t *testing.T) {
	a := mappedFile{start: 0x1000, end: 0x5000, ext: ".mem", id: 5}
	b := mappedFile{start: 0x9000, end: 0xd000, ext: ".mem", id: 6}
	sst := mappedFile{start: 0x20000, end: 0x30000, ext: ".sst", id: 9}
	moved := a
	moved.start, moved.end = 0x40000, 0x44000
	for _, c := range []struct {
		name          string
		before, after []mappedFile
		want          mappedFile
	}{
		{"unchanged", []mappedFile{sst, a}, []mappedFile{a, sst}, a},
		{"older WAL still mapped", []mappedFile{a, b}, []mappedFile{b, a}, b},
		{"rotated in between", []mappedFile{a}, []mappedFile{a, b}, mappedFile{}},
		{"mapped elsewhere", []mappedFile{a}, []mappedFile{moved}, mappedFile{}},
		{"no WAL", []mappedFile{sst}, []mappedFile{sst}, mappedFile{}},
	} {
		if got := newestWAL(c.before, c.after); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestParseMapping: Badger's own files directly under the directory, by
// number; nothing else.
func TestParseMapping(t *testing.T) {
	const prefix = "/d/log/"
	for _, c := range []struct {
		line string
		want mappedFile
		ok   bool
	}{
		{"7f000000-7f400000 rw-s 00000000 08:01 1234 /d/log/00002.mem", mappedFile{0x7f000000, 0x7f400000, ".mem", 2}, true},
		{"7f400000-7f500000 r--s 00000000 08:01 1235 /d/log/000017.sst (deleted)", mappedFile{0x7f400000, 0x7f500000, ".sst", 17}, true},
		{"7f500000-7f600000 rw-s 00000000 08:01 1236 /d/log/000001.vlog", mappedFile{0x7f500000, 0x7f600000, ".vlog", 1}, true},
		{"7f500000-7f600000 rw-s 00000000 08:01 1236 /d/log/sub/000001.sst", mappedFile{}, false},
		{"7f500000-7f600000 rw-s 00000000 08:01 1236 /d/log/backup.sst", mappedFile{}, false},
		{"7f500000-7f600000 rw-s 00000000 08:01 1236 /d/logs/000001.sst", mappedFile{}, false},
		{"7f500000-7f600000 rw-s 00000000 08:01 1236 /d/log/MANIFEST", mappedFile{}, false},
		{"7f500000-7f600000 rw-p 00000000 00:00 0 ", mappedFile{}, false},
		{"7f600000-7f500000 rw-s 00000000 08:01 1236 /d/log/000001.sst", mappedFile{}, false},
	} {
		got, ok := parseMapping(c.line, prefix)
		if ok != c.ok || got != c.want {
			t.Errorf("%q: got %+v %v, want %+v %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// BenchmarkReleaseMapped: one release on a log of 1M records (about 220
// tables in the pi profile), against its peer, reading /proc/self/maps
// once (what any release must do at least).
func BenchmarkReleaseMapped(b *testing.B) {
	dir := b.TempDir()
	l := openTest(b, dir, nil)
	fillLog(b, l, 1_000_000)
	if err := l.Close(); err != nil { // and its compactions
		b.Fatal(err)
	}
	l = openTest(b, dir, nil)
	b.ReportMetric(float64(len(l.db.Tables())), "tables")
	b.Run("full", func(b *testing.B) {
		r := newReleaser(l)
		for b.Loop() {
			if _, err := r.release(true, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-only", func(b *testing.B) {
		r := newReleaser(l)
		for b.Loop() {
			if _, err := r.release(false, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("peer=read-maps", func(b *testing.B) {
		for b.Loop() {
			if _, err := badgerMappings(l.dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}

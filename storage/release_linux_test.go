//go:build linux

package storage

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// mappedRSS is the resident bytes of Badger's table and value-log files
// under dir mapped into this process (the Rss lines of /proc/self/smaps).
func mappedRSS(dir string) (int64, error) {
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
			_, ours = parseMapping(line, prefix) // a block header: a new mapping
		}
		return nil
	})
	return n, err
}

// TestReleaseMappedPages: after a read over the whole log, Badger's mapped
// table files hold resident pages; releaseMapped hands them back, and the
// log still reads every record afterwards.
func TestReleaseMappedPages(t *testing.T) {
	if emu := os.Getenv(selfExecEnv); emu != "" {
		t.Skipf("under %s: qemu-user accepts madvise and does nothing, so there is nothing to measure", emu)
	}
	dir := t.TempDir()
	l := openTest(t, dir, nil) // pi profile
	const n = 100_000
	recs := make([]Record, 0, 1000)
	for i := 0; i < n; i += cap(recs) {
		recs = recs[:0]
		for j := range cap(recs) {
			p := make([]byte, 100)
			_, _ = rand.Read(p) // incompressible: tables as big as the data
			recs = append(recs, Record{Topic: "t", Payload: p, QoS: byte(j % 2)})
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.db.Flatten(1); err != nil { // every record in tables, read by the compaction
		t.Fatal(err)
	}
	readAll := func() {
		t.Helper()
		got, err := l.Read(context.Background(), 1, n+1)
		if err != nil || len(got) != n {
			t.Fatalf("read %d of %d records: %v", len(got), n, err)
		}
	}
	readAll()
	before, err := mappedRSS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if before < 1<<20 {
		t.Fatalf("only %d bytes of table files resident after reading %d records: nothing to release", before, n)
	}
	advised, err := releaseMapped(dir)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("kernel without MADV_PAGEOUT: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	after, err := mappedRSS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("table files resident: %d KiB before, %d KiB after (%d KiB of mappings advised)", before>>10, after>>10, advised>>10)
	if after > before/4 {
		t.Fatalf("%d KiB still resident of %d KiB", after>>10, before>>10)
	}
	readAll()
}

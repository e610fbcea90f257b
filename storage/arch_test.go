package storage

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfilesOpenWriteReopen writes past several memtables, tables and
// value-log files with each profile, and pi with snappy, closes, reopens and
// reads back. Under make test-arm it runs on 32-bit ARM, where Badger
// memory-maps every file into a 3 GiB address space: each profile must work
// there or be refused by Validate with a message that names the fix, never
// crash. There, with ristretto v2.2.0's allocator, the pi cases read back
// nothing once tables were not memtable-sized and uncompressed.
func TestProfilesOpenWriteReopen(t *testing.T) {
	for _, tc := range []struct{ profile, compression string }{
		{ProfilePi, ""}, {ProfilePi, CompressionSnappy}, {ProfileLarge, ""},
	} {
		t.Run(tc.profile+"/"+cmp.Or(tc.compression, "default"), func(t *testing.T) {
			profile := tc.profile
			mod := func(o *Options) { o.Profile, o.Compression = profile, tc.compression }
			if err := testOptions(mod).Validate(); err != nil {
				if !is32Bit || !strings.Contains(err.Error(), "profile: ") || !strings.Contains(err.Error(), ProfilePi) {
					t.Fatalf("Validate: %v", err)
				}
				t.Logf("refused as it should be on 32-bit: %v", err)
				return
			}
			dir := t.TempDir()
			l := openTest(t, dir, mod)
			big := strings.Repeat("v", 80<<10)  // above pi's value threshold: goes to the value log
			mid := strings.Repeat("m", 20<<10)  // in the tables, in a block bigger than blockBytes
			const batches, perBatch = 100, 1000 // 13 MiB of small records (flushes, compactions), 20 MiB of big values (two value-log files), 8 MiB of mid ones
			for b := 0; b < batches; b++ {
				recs := make([]Record, perBatch)
				for i := range recs {
					recs[i] = rec(b*perBatch + i)
				}
				for i := 0; i < perBatch; i += 250 {
					recs[i].Payload = []byte(big + fmt.Sprint(b))
					recs[i+1].Payload = []byte(mid + fmt.Sprint(b))
				}
				if _, err := l.Append(context.Background(), recs); err != nil {
					t.Fatalf("append batch %d: %v", b, err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir, mod)
			if got := l.NextOffset(); got != batches*perBatch+1 {
				t.Fatalf("next offset after reopen %d, want %d", got, batches*perBatch+1)
			}
			recs, err := l.Read(context.Background(), 1, batches*perBatch)
			if err != nil || len(recs) != batches*perBatch {
				t.Fatalf("read back %d records, err %v", len(recs), err)
			}
			if string(recs[perBatch].Payload) != big+"1" || string(recs[perBatch+1].Payload) != mid+"1" {
				t.Fatalf("record %d or %d payload differs", perBatch+1, perBatch+2)
			}
		})
	}
}

// TestCompressionOption: storage.compression reaches Badger. The same
// compressible records take less than half the room in tables with snappy
// or zstd than with none, and the pi profile's default is none.
func TestCompressionOption(t *testing.T) {
	tableBytes := func(compression string) int64 {
		dir := t.TempDir()
		l := openTest(t, dir, func(o *Options) { o.Compression = compression })
		for i := 0; i < 20; i++ { // about 3 MiB: one memtable, flushed on close
			appendN(t, l, i*1000, 1000)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		var n int64
		ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
		for _, f := range ssts {
			if fi, err := os.Stat(f); err == nil {
				n += fi.Size()
			}
		}
		if n == 0 {
			t.Fatalf("compression %q: no tables written", compression)
		}
		return n
	}
	none, pi := tableBytes(CompressionNone), tableBytes("")
	if pi < none*9/10 {
		t.Errorf("pi's default compression wrote %d bytes of tables, none %d: want none", pi, none)
	}
	for _, c := range []string{CompressionSnappy, CompressionZSTD} {
		if got := tableBytes(c); got*2 > none {
			t.Errorf("tables with %s take %d bytes, with none %d: want less than half", c, got, none)
		}
	}
}

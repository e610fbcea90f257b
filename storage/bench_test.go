package storage

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func benchRecord(i int) Record {
	p := make([]byte, 100)
	copy(p, fmt.Sprintf("%020d", i))
	return Record{ClientID: "sensor-17", Topic: "site/3/sensor/17/temp", Payload: p, QoS: 1}
}

// BenchmarkAppend: c concurrent appenders, one 100-byte record per call, in
// each durability mode. Compare records/s with BenchmarkRawBadgerWriteBatch.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []Durability{DurabilityFsync, DurabilityBatch, DurabilityNone} {
		for _, c := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/%d", mode, c), func(b *testing.B) {
				l := openTest(b, "", func(o *Options) { o.Durability = mode })
				b.ResetTimer()
				if err := appendConcurrently(l, b.N, 1, c, benchRecord); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(l.Stats().MeanBatch, "records/batch")
			})
		}
	}
}

// BenchmarkFsyncWAL: appenders that each wait for their record in fsync
// mode, as devices that wait for every PUBACK, with the WAL zeroed ahead of
// its writes (Badger copy's change 18, where walFS says it pays: ext4 and
// XFS) against the same log with a sparse WAL, the peer. sync-us is the mean
// time of one sync. Set TMPDIR to the file system to measure: a journaled
// ext4 (a gateway's root file system) shows the journal commits; on tmpfs
// both cases are sparse.
func BenchmarkFsyncWAL(b *testing.B) {
	for _, c := range []int{1, 10} {
		for _, wal := range []string{"sparse", "zeroed"} {
			b.Run(fmt.Sprintf("%d/%s", c, wal), func(b *testing.B) {
				if wal == "sparse" {
					defer func(f func(string) fsKind) { walFS = f }(walFS)
					walFS = func(string) fsKind { return fsOther }
				}
				l := openTest(b, "", func(o *Options) { o.Durability = DurabilityFsync })
				b.ResetTimer()
				if err := appendConcurrently(l, b.N, 1, c, benchRecord); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st := l.Stats()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
				if st.Syncs > 0 {
					b.ReportMetric(st.SyncSeconds/float64(st.Syncs)*1e6, "sync-us")
				}
			})
		}
	}
}

// BenchmarkRawBadgerWriteBatch is the reference: the same encoded records
// written by one goroutine through Badger's WriteBatch with the pi profile.
func BenchmarkRawBadgerWriteBatch(b *testing.B) {
	db, err := badger.Open(profiles[ProfilePi].badger(b.TempDir(), testOptions(nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	wb := db.NewWriteBatch()
	for i := 1; i <= b.N; i++ {
		r := benchRecord(i)
		r.Offset, r.Origin = uint64(i), "node-a"
		if err := wb.Set(logKey(uint64(i)), EncodeRecord(nil, &r)); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// fillLog appends n bench records in batches of 1000 (durability none).
func fillLog(b *testing.B, l *Log, n int) {
	for i := 0; i < n; i += 1000 {
		recs := make([]Record, 1000)
		for j := range recs {
			recs[j] = benchRecord(i + j)
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCold reads 1M records through a Reader from a freshly opened
// log (cold caches in Badger; the OS page cache may still be warm).
func BenchmarkReadCold(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	l, err := Open(dir, testOptions(nil))
	if err != nil {
		b.Fatal(err)
	}
	fillLog(b, l, n)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l, err := Open(dir, testOptions(nil))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		r := l.NewReader(1)
		for got := 0; got < n; {
			recs, err := r.Next(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			got += len(recs)
		}
		b.StopTimer()
		_ = l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWriteAmp appends 1M records with 100-byte payloads (64 appenders
// of 100-record calls, batch mode), closes the log and reports bytes the
// process wrote to the storage layer (/proc/self/io write_bytes) per byte of
// encoded records. "sensor" payloads compress well (like JSON readings),
// "random" ones not at all. "held" appends sensor records to a log whose
// max_bytes is a third of them, and commits a cursor and writes a KV key
// beside them, as the node does: retention deletes as much as is appended.
// Before Badger's change 16 (2026-12-05, night) "sensor" and "random" read
// 3.9 and "held" 8.4; 2.0-2.1 since, in a quarter to a third of the time.
func BenchmarkWriteAmp(b *testing.B) {
	noise := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{3}).Read(noise)
	gens := map[string]func(int) Record{
		"sensor": benchRecord,
		"random": func(i int) Record {
			r := benchRecord(i)
			at := i * 101 % (len(noise) - 100)
			r.Payload = noise[at : at+100]
			return r
		},
	}
	gens["held"] = benchRecord
	for _, name := range []string{"sensor", "random", "held"} {
		b.Run(name, func(b *testing.B) {
			const n, per, workers = 1_000_000, 100, 64
			for i := 0; i < b.N; i++ {
				r := benchRecord(0)
				r.Origin = "node-a"
				recBytes := float64(n * len(EncodeRecord(nil, &r)))
				l, err := Open(b.TempDir(), testOptions(func(o *Options) {
					o.Durability = DurabilityBatch
					if name == "held" {
						o.MaxBytes = int64(recBytes / 3)
					}
				}))
				if err != nil {
					b.Fatal(err)
				}
				gen := gens[name]
				if name == "held" {
					kv := l.KV("sessions")
					gen = func(i int) Record {
						if i%per == 0 {
							_ = l.Commit("bridge", l.NextOffset())
							_ = kv.Put(fmt.Sprintf("client-%d", i/per%7), []byte("session state"))
						}
						return benchRecord(i)
					}
				}
				before := procWriteBytes(b)
				if err := appendConcurrently(l, n, per, workers, gen); err != nil {
					b.Fatal(err)
				}
				disk := l.Stats().DiskBytes
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(procWriteBytes(b)-before)/recBytes, "write-amp")
				b.ReportMetric(float64(disk)/recBytes, "disk/record-bytes")
			}
		})
	}
}

// appendConcurrently appends n bench records in calls of per records from
// workers goroutines, record i made by gen(i), and returns the first error.
func appendConcurrently(l *Log, n, per, workers int, gen func(int) Record) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := int(next.Add(int64(per))) - per; start < n; start = int(next.Add(int64(per))) - per {
				recs := make([]Record, per)
				for j := range recs {
					recs[j] = gen(start + j)
				}
				if _, err := l.Append(context.Background(), recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func procWriteBytes(b *testing.B) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skip("no write_bytes in /proc/self/io")
	return 0
}

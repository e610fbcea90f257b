package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// full, in TestAppendRead's batches, is as many records as one Append takes.
const full = -1

func TestAppendRead(t *testing.T) {
	tests := []struct {
		name    string
		mode    Durability
		batches []int // records per Append call; full: as many as one call takes
	}{
		{"single-none", DurabilityNone, []int{1}},
		{"many-fsync", DurabilityFsync, []int{1, 5, 100, 1}},
		{"many-batch", DurabilityBatch, []int{3, full, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, "", func(o *Options) { o.Durability = tc.mode })
			if got := l.NextOffset(); got != 1 {
				t.Fatalf("NextOffset of a new log = %d, want 1", got)
			}
			want, i := uint64(1), 0
			before := time.Now()
			for _, n := range tc.batches {
				if n == full {
					n = batchLimit(l, rec(i))
				}
				offs := appendN(t, l, i, n)
				for _, o := range offs {
					if o != want {
						t.Fatalf("offset %d, want %d", o, want)
					}
					want++
				}
				i += n
			}
			got, err := l.Read(context.Background(), 0, i+10)
			if err != nil || len(got) != i {
				t.Fatalf("Read = %d records, %v; want %d", len(got), err, i)
			}
			var last time.Time
			for j, r := range got {
				w := rec(j)
				if r.Offset != uint64(j+1) || r.Origin != "node-a" || r.Topic != w.Topic || !bytes.Equal(r.Payload, w.Payload) || r.QoS != w.QoS {
					t.Fatalf("record %d = %+v, want %+v", j, r, w)
				}
				if r.Time.Before(last) || r.Time.Before(before.Add(-time.Millisecond)) {
					t.Fatalf("record %d time %v decreased (last %v)", j, r.Time, last)
				}
				last = r.Time
			}
			if got, _ := l.Read(context.Background(), uint64(i+1), 10); len(got) != 0 {
				t.Fatalf("Read past the end returned %d records", len(got))
			}
			if got, _ := l.Read(context.Background(), 2, 2); i >= 3 && (len(got) != 2 || got[0].Offset != 2) {
				t.Fatalf("Read(2, 2) = %+v", got)
			}
		})
	}
}

func TestAppendConcurrentGapless(t *testing.T) {
	for _, mode := range []Durability{DurabilityFsync, DurabilityBatch, DurabilityNone} {
		t.Run(string(mode), func(t *testing.T) {
			l := openTest(t, "", func(o *Options) { o.Durability = mode })
			const workers, per = 16, 50
			var mu sync.Mutex
			seen := map[uint64]bool{}
			runWorkers(workers, func(int) {
				for i := 0; i < per; i++ {
					offs, err := l.Append(context.Background(), []Record{rec(i), rec(i + 1)})
					if err != nil {
						t.Error(err)
						return
					}
					if offs[1] != offs[0]+1 {
						t.Errorf("offsets within a call not contiguous: %v", offs)
					}
					mu.Lock()
					for _, o := range offs {
						if seen[o] {
							t.Errorf("offset %d returned twice", o)
						}
						seen[o] = true
					}
					mu.Unlock()
				}
			})
			n := uint64(workers * per * 2)
			for o := uint64(1); o <= n; o++ {
				if !seen[o] {
					t.Fatalf("offset %d missing", o)
				}
			}
			st := l.Stats()
			if st.NextOffset != n+1 || st.Appended != n || st.Batches == 0 || st.Batches > st.Appends {
				t.Fatalf("stats %+v", st)
			}
			if mode == DurabilityFsync && (st.Syncs == 0 || st.Syncs > st.Batches) {
				t.Fatalf("fsync mode: %d syncs for %d batches", st.Syncs, st.Batches)
			}
			// (A periodic sync may come between the two reads in batch mode.)
			if syncs, d := l.SyncTime(); syncs < st.Syncs || (syncs > 0) != (d > 0) || st.SyncSeconds > d.Seconds() {
				t.Fatalf("SyncTime %d syncs in %v; Stats %d in %vs", syncs, d, st.Syncs, st.SyncSeconds)
			}
		})
	}
}

func TestTailReader(t *testing.T) {
	l := openTest(t, "", nil)
	r := l.NewReader(1)
	r.SetBatch(100)
	got := make(chan []uint64, 100)
	go func() {
		var offs []uint64
		for len(offs) < 450 {
			recs, err := r.Next(context.Background())
			if err != nil {
				t.Error(err)
				break
			}
			if len(recs) > 100 {
				t.Errorf("batch of %d > 100", len(recs))
			}
			for _, rc := range recs {
				offs = append(offs, rc.Offset)
			}
		}
		got <- offs
	}()
	for i := 0; i < 9; i++ {
		appendN(t, l, i*50, 50)
		time.Sleep(time.Millisecond)
	}
	offs := <-got
	for i, o := range offs {
		if o != uint64(i+1) {
			t.Fatalf("tail read offset %d at %d", o, i)
		}
	}
	if r.Position() != 451 {
		t.Fatalf("Position = %d, want 451", r.Position())
	}
	r.Seek(10)
	recs, err := r.Next(context.Background())
	if err != nil || recs[0].Offset != 10 {
		t.Fatalf("after Seek(10): %v %v", recs, err)
	}

	// A reader blocked at the end wakes on Close of the reader and of the log.
	for _, closeLog := range []bool{false, true} {
		r := l.NewReader(l.NextOffset())
		errc := make(chan error, 1)
		go func() { _, err := r.Next(context.Background()); errc <- err }()
		time.Sleep(20 * time.Millisecond)
		select {
		case err := <-errc:
			t.Fatalf("Next returned early: %v", err)
		default:
		}
		if closeLog {
			_ = l.Close()
		} else {
			_ = r.Close()
		}
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after close = %v, want ErrClosed", err)
		}
	}
}

// TestReaderBatchBytes: a Reader's batches and its prefetch are bounded by
// bytes as well as by count, so tailing a backlog of large payloads holds a
// few of them, not thousands; a record over the bound still comes, alone.
func TestReaderBatchBytes(t *testing.T) {
	l := openTest(t, "", nil)
	sizes := []int{10 << 10, 100, 3000, 100 << 10, 10 << 10, 1, 20 << 10}
	var want []int
	for i := 0; i < 40; i++ {
		recs := make([]Record, 0, len(sizes))
		for _, n := range sizes {
			recs = append(recs, Record{Topic: "cam/1", Payload: make([]byte, n+i)})
			want = append(want, n+i)
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	const bound = 32 << 10
	r := l.NewReader(1)
	r.SetBatch(20)
	r.SetBatchBytes(bound)
	var got []Record
	for len(got) < len(want) {
		recs, err := r.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held := 0
		for _, rc := range r.buf {
			held += rc.MemSize()
		}
		size := 0
		for _, rc := range recs {
			size += rc.MemSize()
			held += rc.MemSize()
		}
		switch {
		case len(recs) > 20:
			t.Fatalf("batch of %d records, bound 20", len(recs))
		case len(recs) > 1 && size > bound:
			t.Fatalf("batch of %d records and %d bytes, bound %d", len(recs), size, bound)
		case held > prefetchBatches*bound+recs[0].MemSize():
			t.Fatalf("reader holds %d bytes with a batch bound of %d", held, bound)
		}
		// Full: a batch cut from the prefetch stopped at a bound, not short
		// of one (the prefetch's last batch may be short).
		if last := recs[len(recs)-1].Offset; len(recs) < 20 && len(r.buf) > 0 {
			if next := size + recordOverhead + len("cam/1") + len("node-a") + want[last]; next <= bound {
				t.Fatalf("batch of %d records and %d bytes stopped short: offset %d would fit", len(recs), size, last+1)
			}
		}
		got = append(got, recs...)
	}
	for i, rc := range got {
		if rc.Offset != uint64(i+1) || len(rc.Payload) != want[i] {
			t.Fatalf("record %d: offset %d, %d bytes; want offset %d, %d bytes", i, rc.Offset, len(rc.Payload), i+1, want[i])
		}
	}
	if all, err := l.Read(context.Background(), 1, len(want)); err != nil || len(all) != len(want) {
		t.Fatalf("Read without a bytes bound: %d records, %v; want %d", len(all), err, len(want))
	}
}

func TestReaderContext(t *testing.T) {
	l := openTest(t, "", nil)
	r := l.NewReader(1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on empty log = %v, want deadline", err)
	}
}

func TestCursors(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	appendN(t, l, 0, 10)
	steps := []struct {
		op   string
		name string
		next uint64
		want uint64
		ok   bool
	}{
		{"get", "kafka", 0, 0, false},
		{"commit", "kafka", 4, 4, true},
		{"commit", "kafka", 8, 8, true},
		{"commit", "peer-b", 2, 2, true},
		{"remove", "peer-b", 0, 0, false},
		{"commit", "rollup", 11, 11, true},
	}
	for _, s := range steps {
		switch s.op {
		case "commit":
			if err := l.Commit(s.name, s.next); err != nil {
				t.Fatal(err)
			}
		case "remove":
			if err := l.RemoveCursor(s.name); err != nil {
				t.Fatal(err)
			}
		}
		if got, ok := l.Cursor(s.name); got != s.want || ok != s.ok {
			t.Fatalf("after %s %s: Cursor = %d %v, want %d %v", s.op, s.name, got, ok, s.want, s.ok)
		}
	}
	if err := l.RemoveCursor("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveCursor(nope) = %v", err)
	}
	if st := l.Stats().Cursors["kafka"]; st.Lag != 3 || st.Next != 8 {
		t.Fatalf("kafka stats %+v, want lag 3", st)
	}
	_ = l.Close()
	l2 := openTest(t, dir, nil)
	for name, want := range map[string]uint64{"kafka": 8, "rollup": 11} {
		if got, ok := l2.Cursor(name); !ok || got != want {
			t.Fatalf("after reopen %s = %d %v, want %d", name, got, ok, want)
		}
	}
	if _, ok := l2.Cursor("peer-b"); ok {
		t.Fatal("removed cursor came back after reopen")
	}
}

func TestKV(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.Durability = DurabilityFsync })
	a, b := l.KV("sessions"), l.KV("sessions2")
	for _, kv := range []struct{ k, v string }{{"c", "3"}, {"a", "1"}, {"b", "2"}} {
		if err := a.Put(kv.k, []byte(kv.v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put("a", []byte("other")); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get deleted = %v", err)
	}
	_ = l.Close()
	l = openTest(t, dir, nil)
	var keys []string
	err := l.KV("sessions").Scan(func(k string, v []byte) error {
		keys = append(keys, k+"="+string(v))
		return nil
	})
	if err != nil || len(keys) != 2 || keys[0] != "a=1" || keys[1] != "c=3" {
		t.Fatalf("Scan = %v %v", keys, err)
	}
	if v, err := l.KV("sessions2").Get("a"); err != nil || string(v) != "other" {
		t.Fatalf("bucket isolation: %q %v", v, err)
	}
}

func TestKVKeys(t *testing.T) {
	l := openTest(t, "", nil)
	a, b := l.KV("s"), l.KV("s2")
	for _, k := range []string{"sub/dev1\x00a/#", "sub/dev1\x00b", "sub/dev10\x00c", "sub/dev2\x00d", "inf/dev1\x00\x01", "sub/dev0"} {
		if err := a.Put(k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put("sub/dev1\x00z", []byte("other bucket")); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("sub/dev1\x00b"); err != nil {
		t.Fatal(err)
	}
	keys, err := a.Keys("sub/dev1\x00")
	if err != nil || len(keys) != 1 || keys[0] != "sub/dev1\x00a/#" {
		t.Fatalf("Keys(sub/dev1) = %q %v; want only sub/dev1\\x00a/#", keys, err)
	}
	if keys, err = a.Keys("sub/"); err != nil || len(keys) != 4 || keys[0] != "sub/dev0" || keys[3] != "sub/dev2\x00d" {
		t.Fatalf("Keys(sub/) = %q %v; want 4 in ascending order", keys, err)
	}
	if keys, err = a.Keys("none/"); err != nil || len(keys) != 0 {
		t.Fatalf("Keys(none/) = %q %v", keys, err)
	}
}

func TestRecovery(t *testing.T) {
	tests := []struct {
		name   string
		mode   Durability
		rounds []int
	}{
		{"fsync", DurabilityFsync, []int{10, 1, 250}},
		{"batch", DurabilityBatch, []int{5, 5}},
		{"none", DurabilityNone, []int{1000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			total := 0
			var lastTime time.Time
			for _, n := range tc.rounds {
				l := openTest(t, dir, func(o *Options) { o.Durability = tc.mode })
				if got := l.NextOffset(); got != uint64(total+1) {
					t.Fatalf("NextOffset after reopen = %d, want %d", got, total+1)
				}
				offs := appendN(t, l, total, n)
				if offs[0] != uint64(total+1) {
					t.Fatalf("first offset %d, want %d", offs[0], total+1)
				}
				total += n
				recs, _ := l.Read(context.Background(), uint64(total), 1)
				if recs[0].Time.Before(lastTime) {
					t.Fatal("ingest time went back across restart")
				}
				lastTime = recs[0].Time
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Append(context.Background(), []Record{rec(0)}); !errors.Is(err, ErrClosed) {
					t.Fatalf("Append after Close = %v", err)
				}
			}
		})
	}
}

func TestOffsetAt(t *testing.T) {
	l := openTest(t, "", nil)
	appendN(t, l, 0, 10)
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	appendN(t, l, 10, 10)
	for _, tc := range []struct {
		at   time.Time
		want uint64
	}{
		{time.Time{}, 1},
		{mid, 11},
		{time.Now().Add(time.Hour), 21},
	} {
		if got, err := l.OffsetAt(tc.at); err != nil || got != tc.want {
			t.Fatalf("OffsetAt(%v) = %d %v, want %d", tc.at, got, err, tc.want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) {}, ""},
		{func(o *Options) { o.Durability = "sync" }, `durability: "sync" is not one of fsync, batch, none`},
		{func(o *Options) { o.FullPolicy = "x" }, `full_policy: "x" is not one of drop-oldest, reject-new`},
		{func(o *Options) { o.Profile = "huge" }, `profile: "huge" is not one of pi, large`},
		{func(o *Options) { o.MaxBytes = 1000 }, "max_bytes: 1000 must be 0 (unbounded) or at least"},
		{func(o *Options) { o.RetentionInterval = 0 }, "retention_interval"},
		{func(o *Options) { o.Durability = DurabilityBatch; o.SyncInterval = 0 }, "sync_interval"},
		{func(o *Options) { o.Compression = "lz4" }, `compression: "lz4" is not one of none, snappy, zstd`},
		{func(o *Options) { o.Compression = CompressionNone }, ""},
		{func(o *Options) { o.Compression = CompressionZSTD }, ""},
	}
	for _, tc := range tests {
		o := DefaultOptions()
		tc.mod(&o)
		err := o.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !bytes.Contains([]byte(err.Error()), []byte(tc.want))) {
			t.Errorf("Validate = %v, want %q", err, tc.want)
		}
	}
}

func TestAppendLimits(t *testing.T) {
	l := openTest(t, "", nil)
	limit := batchLimit(l, rec(0))
	tests := []struct {
		name string
		n    int
		want error
	}{
		{"empty", 0, nil},
		{"one transaction", limit, nil},
		{"one record more", limit + 1, ErrTooLarge},
		{"too large", 50000, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := l.NextOffset()
			recs := make([]Record, tc.n)
			for i := range recs {
				recs[i] = rec(i)
			}
			offs, err := l.Append(context.Background(), recs)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append(%d) = %v, want %v", tc.n, err, tc.want)
			}
			if err == nil && len(offs) != tc.n {
				t.Fatalf("%d offsets for %d records", len(offs), tc.n)
			}
			if err != nil && l.NextOffset() != before {
				t.Fatal("a refused Append appended records")
			}
		})
	}
}

// TestCloseStopsGoroutines: after Close no goroutine of the log (or of
// Badger) is left, in every mode, with readers blocked at Close.
func TestCloseStopsGoroutines(t *testing.T) {
	for _, mode := range []Durability{DurabilityFsync, DurabilityBatch, DurabilityNone} {
		before := runtime.NumGoroutine()
		l, err := Open(t.TempDir(), testOptions(func(o *Options) { o.Durability = mode }))
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 0, 10)
		errc := make(chan error, 1)
		go func() { _, err := l.NewReader(100).Next(context.Background()); errc <- err }()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked reader got %v", err)
		}
		eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before },
			"%s: goroutines did not fall back to %d after Close", mode, before)
	}
}

// TestFsyncGathersWaitingAppenders: appenders that each wait for their
// append, like devices waiting for every PUBACK, share fsyncs. Without the
// syncer's wait for more groups they took turns at the disk in two cohorts
// and one fsync covered 3.4-3.9 of 8 (7.6 with it, 6.0 under -race).
func TestFsyncGathersWaitingAppenders(t *testing.T) {
	l := openTest(t, "", func(o *Options) { o.Durability = DurabilityFsync })
	const appenders = 8
	appendEach(t, l, appenders, 150)
	st := l.Stats()
	perSync := float64(st.Appended) / float64(st.Syncs)
	t.Logf("%d appenders: %.2f records per fsync (%d fsyncs)", appenders, perSync, st.Syncs)
	if perSync < 4.5 {
		t.Fatalf("%.2f records per fsync with %d appenders waiting; want at least 4.5", perSync, appenders)
	}
}

// Appenders that each wait for their append, on one P: the writer, finding
// nothing more queued after the first request, lets the ready appenders run
// once before it commits, so their requests share its commit: 7.1-7.6
// records per commit, against 3.0 when it committed at once.
func TestWriterGathersReadyAppenders(t *testing.T) {
	l := openTest(t, "", func(o *Options) { o.Durability = DurabilityBatch })
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const appenders = 8
	appendEach(t, l, appenders, 200)
	st := l.Stats()
	t.Logf("%d appenders: %.2f records per commit (%d commits)", appenders, st.MeanBatch, st.Batches)
	if st.MeanBatch < 5 {
		t.Fatalf("%.2f records per commit with %d appenders ready; want at least 5", st.MeanBatch, appenders)
	}
}

// TestBatchSyncBesideTheWriter: in batch mode the periodic sync runs beside
// the writer, so appends go on while it writes (a sync that writes back
// megabytes of value log took tens of milliseconds, and when the writer made
// it, every appender waited).
func TestBatchSyncBesideTheWriter(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l := openTest(t, "", func(o *Options) {
		o.Durability = DurabilityBatch
		o.SyncInterval = 5 * time.Millisecond
		o.beforeSync = func() {
			once.Do(func() { // the first sync holds until the appends below are in
				close(started)
				<-release
			})
		}
	})
	defer l.Close()
	defer close(release)
	ctx := context.Background()
	if _, err := l.Append(ctx, []Record{{Topic: "t", Payload: []byte("first")}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no periodic sync after an append")
	}
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 100; i++ {
			if _, err := l.Append(ctx, []Record{{Topic: "t", Payload: []byte("during")}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("appends waited for the periodic sync")
	}
}

// appendEach runs appenders goroutines that each append n one-record
// batches, waiting for each, and returns when all are done.
func appendEach(t *testing.T, l *Log, appenders, n int) {
	t.Helper()
	runWorkers(appenders, func(int) {
		for i := 0; i < n; i++ {
			if _, err := l.Append(context.Background(), []Record{{Topic: "t", Payload: []byte("x")}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
}

// runWorkers runs fn(0) ... fn(n-1) on goroutines of their own and waits for
// them.
func runWorkers(n int, fn func(w int)) {
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w)
		}()
	}
	wg.Wait()
}

// Appenders with one to three records per call, some of them with a context
// already cancelled (such an append may or may not happen, and its request
// is not recycled): every offset a successful Append returned holds that
// caller's record, so no recycled request or buffer leaked into another's.
func TestAppendConcurrentContents(t *testing.T) {
	l := openTest(t, "", func(o *Options) { o.Durability = DurabilityBatch })
	const workers, per = 8, 300
	var mu sync.Mutex
	want := map[uint64]string{}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	runWorkers(workers, func(w int) {
		for i := 0; i < per; i++ {
			skip := i%7 == 3 // appended with the cancelled context
			prefix := "w"
			if skip {
				prefix = "cancelled-"
			}
			recs := make([]Record, 1+(w+i)%3)
			for j := range recs {
				recs[j] = Record{Topic: "t", Payload: []byte(fmt.Sprintf("%s%d-%d-%d", prefix, w, i, j))}
			}
			if skip {
				_, _ = l.Append(cancelled, recs)
				continue
			}
			offs, err := l.Append(context.Background(), recs)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for j, o := range offs {
				want[o] = string(recs[j].Payload)
			}
			mu.Unlock()
		}
	})
	got, err := l.Read(context.Background(), 0, workers*per*3)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, r := range got {
		if w, ok := want[r.Offset]; ok {
			found++
			if string(r.Payload) != w {
				t.Fatalf("offset %d holds %q, want %q", r.Offset, r.Payload, w)
			}
		} else if !bytes.HasPrefix(r.Payload, []byte("cancelled-")) {
			t.Fatalf("offset %d holds %q, which no successful append returned", r.Offset, r.Payload)
		}
	}
	if found != len(want) {
		t.Fatalf("read %d of the %d records appended", found, len(want))
	}
}

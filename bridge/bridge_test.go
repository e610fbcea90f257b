package bridge_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/bridge/internal/upstreamtest"
	"github.com/outpost-edge/outpost/storage"
)

func openLog(t testing.TB, dir string) *storage.Log {
	t.Helper()
	return openLogWith(t, dir, func(*storage.Options) {})
}

func openLogWith(t testing.TB, dir string, mutate func(*storage.Options)) *storage.Log {
	t.Helper()
	o := storage.DefaultOptions()
	o.Durability = storage.DurabilityNone
	o.NodeID = "gw1"
	mutate(&o)
	lg, err := storage.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

// appendN appends n records with topics cycling through topics; payload is
// "<topic>#<seq>" with seq counting per topic from start.
func appendN(t testing.TB, lg *storage.Log, n int, topics ...string) {
	t.Helper()
	recs := make([]storage.Record, 0, 1000)
	flush := func() {
		if _, err := lg.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := 0; i < n; i++ {
		tp := topics[i%len(topics)]
		recs = append(recs, storage.Record{Topic: tp, QoS: 1, Payload: []byte(fmt.Sprintf("%s#%d", tp, i))})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
}

func testOptions(name string) bridge.Options {
	o := bridge.DefaultOptions()
	o.Name = name
	o.Window = 64
	o.BackoffMin, o.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	o.CommitInterval = 10 * time.Millisecond
	o.StallTimeout = 0
	return o
}

// running starts b.Run and returns a stop function that waits for it.
func running(t testing.TB, b *bridge.Bridge) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := b.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func newBridge(t testing.TB, lg *storage.Log, s bridge.Sink, o bridge.Options) *bridge.Bridge {
	t.Helper()
	b, err := bridge.New(lg, s, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cursorAt(lg *storage.Log, name string, want uint64) func() bool {
	return func() bool { c, ok := lg.Cursor(bridge.CursorName(name)); return ok && c == want }
}

// checkOrder asserts offsets strictly increase per source topic.
func checkOrder(t testing.TB, msgs []bridge.Message) {
	t.Helper()
	last := map[string]uint64{}
	for _, m := range msgs {
		if m.Record.Offset <= last[m.Record.Topic] {
			t.Fatalf("topic %s: offset %d after %d", m.Record.Topic, m.Record.Offset, last[m.Record.Topic])
		}
		last[m.Record.Topic] = m.Record.Offset
	}
}

func TestBridgeForwardsMappedRecordsInOrder(t *testing.T) {
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	appendN(t, lg, 3000, "s/a", "s/b", "other/x")
	sink := newFakeSink()
	o := testOptions("up")
	o.Rules = []bridge.Rule{{Filter: "s/#", StripPrefix: "s/", AddPrefix: "cloud/"}}
	b := newBridge(t, lg, sink, o)
	stop := running(t, b)
	upstreamtest.Eventually(t, 20*time.Second, "cursor at the log end", cursorAt(lg, "up", lg.NextOffset()))
	msgs := sink.messages()
	if len(msgs) != 2000 {
		t.Fatalf("delivered %d, want 2000 (other/x skipped)", len(msgs))
	}
	for i, m := range msgs {
		if i > 0 && m.Record.Offset <= msgs[i-1].Record.Offset {
			t.Fatalf("out of log order at %d", i)
		}
		if m.Topic != "cloud/"+strings.TrimPrefix(m.Record.Topic, "s/") || m.Record.Origin != "gw1" {
			t.Fatalf("mapped %s -> %s origin %q", m.Record.Topic, m.Topic, m.Record.Origin)
		}
	}
	stop()
	st := b.Stats()
	if st.SentRecords != 2000 || st.Skipped != 1000 || st.Lag != 0 || st.State != "stopped" || st.OldestUnsentAge != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewRegistersCursorForRetention(t *testing.T) {
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	appendN(t, lg, 10, "s/a")
	newBridge(t, lg, newFakeSink(), testOptions("up"))
	if c, ok := lg.Cursor(bridge.CursorName("up")); !ok || c != lg.FirstOffset() {
		t.Fatalf("cursor %d %v, want registered at the first offset %d", c, ok, lg.FirstOffset())
	}
}

func TestBridgeResumesFromCursorAfterRestart(t *testing.T) {
	dir := t.TempDir()
	lg := openLog(t, dir)
	appendN(t, lg, 500, "s/a")
	sink := newFakeSink()
	stop := running(t, newBridge(t, lg, sink, testOptions("up")))
	upstreamtest.Eventually(t, 10*time.Second, "first drain", cursorAt(lg, "up", 501))
	stop()
	appendN(t, lg, 300, "s/a")
	lg.Close()

	lg = openLog(t, dir) // node restart
	defer lg.Close()
	b := newBridge(t, lg, sink, testOptions("up"))
	if st := b.Stats(); st.Lag != 300 || st.OldestUnsentAge <= 0 {
		t.Fatalf("before restart drain: %+v", st)
	}
	running(t, b)
	upstreamtest.Eventually(t, 10*time.Second, "second drain", cursorAt(lg, "up", 801))
	msgs := sink.messages()
	if len(msgs) != 800 {
		t.Fatalf("delivered %d, want 800 (no re-send of the committed prefix)", len(msgs))
	}
	checkOrder(t, msgs)
}

func TestBridgeRetryResendsFromFailureInOrder(t *testing.T) {
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	appendN(t, lg, 1000, "s/a", "s/b")
	sink := newFakeSink()
	sink.set(func(f *fakeSink) { f.retryOnce[100] = true; f.retryOnce[700] = true; f.failDials = 2 })
	b := newBridge(t, lg, sink, testOptions("up"))
	running(t, b)
	upstreamtest.Eventually(t, 10*time.Second, "drain", cursorAt(lg, "up", 1001))
	msgs := sink.messages()
	seen := map[uint64]int{}
	for _, m := range msgs {
		seen[m.Record.Offset]++
	}
	dups := len(msgs) - len(seen)
	if len(seen) != 1000 || dups > 2*64 {
		t.Fatalf("distinct %d of 1000, %d duplicates (window 64, 2 failures)", len(seen), dups)
	}
	// The last delivery of every record forms one in-order pass: a resend
	// starts at the failed record and repeats what followed it.
	lastAt := map[uint64]int{}
	for i, m := range msgs {
		lastAt[m.Record.Offset] = i
	}
	for off := uint64(2); off <= 1000; off++ {
		if lastAt[off] <= lastAt[off-1] {
			t.Fatalf("last delivery of %d (at %d) precedes that of %d (at %d)", off, lastAt[off], off-1, lastAt[off-1])
		}
	}
	if st := b.Stats(); st.Retries < 4 || st.Reconnects != 2 {
		t.Fatalf("stats %+v: want >= 4 retries (2 dials, 2 sends), 2 reconnects", st)
	}
}

func TestBridgeDeadLettersAndResend(t *testing.T) {
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	appendN(t, lg, 100, "s/a", "s/secret", "bad/x")
	sink := newFakeSink()
	sink.set(func(f *fakeSink) { f.reject["s/secret"] = true })
	o := testOptions("up")
	o.Rules = []bridge.Rule{{Filter: "s/#"}, {Filter: "bad/#", StripPrefix: "bad/x"}} // bad/x maps to ""
	b := newBridge(t, lg, sink, o)
	running(t, b)
	upstreamtest.Eventually(t, 10*time.Second, "cursor passes the rejections", cursorAt(lg, "up", 101))
	dl, err := b.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	var secret, invalid []uint64
	for _, d := range dl {
		switch {
		case d.Record.Topic == "s/secret" && strings.Contains(d.Reason, "not authorised"):
			secret = append(secret, d.Record.Offset)
		case d.Record.Topic == "bad/x" && strings.Contains(d.Reason, "invalid destination topic"):
			invalid = append(invalid, d.Record.Offset)
		default:
			t.Fatalf("unexpected dead letter %+v", d)
		}
	}
	if len(secret) != 33 || len(invalid) != 33 || b.Stats().DeadLetters != 66 {
		t.Fatalf("%d rejected, %d invalid dead letters; stats %+v", len(secret), len(invalid), b.Stats())
	}
	// The upstream now authorises the topic: re-send the rejected ones.
	sink.set(func(f *fakeSink) { delete(f.reject, "s/secret") })
	if err := b.Resend(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	upstreamtest.Eventually(t, 10*time.Second, "re-sent dead letters removed", func() bool {
		dl, _ := b.DeadLetters()
		return len(dl) == 33
	})
	if n := len(sink.messages()); n != 34+33 {
		t.Fatalf("delivered %d, want 34 + 33 re-sent", n)
	}
	// Invalid topics stay invalid: Resend reports them.
	if err := b.Resend(context.Background(), invalid[:1]); err == nil {
		t.Fatal("Resend of an unmappable dead letter succeeded")
	}
}

func TestBridgeStallWatchdogReconnects(t *testing.T) {
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	appendN(t, lg, 200, "s/a")
	sink := newFakeSink()
	sink.set(func(f *fakeSink) { f.hang = true })
	o := testOptions("up")
	o.StallTimeout = 200 * time.Millisecond
	b := newBridge(t, lg, sink, o)
	running(t, b)
	upstreamtest.Eventually(t, 10*time.Second, "a stall", func() bool { return b.Stats().Stalls >= 1 })
	if st := b.Stats(); st.SentRecords != 0 {
		t.Fatalf("stats %+v", st)
	}
	sink.set(func(f *fakeSink) { f.hang = false })
	upstreamtest.Eventually(t, 10*time.Second, "drain after reconnect", cursorAt(lg, "up", 201))
	if st := b.Stats(); st.Reconnects < 1 || st.SentRecords != 200 {
		t.Fatalf("stats %+v", st)
	}
	checkOrder(t, sink.messages())
}

// TestBridgeBoundsBufferBytes: draining a backlog of large payloads, the
// bridge holds about BufferBytes of records, not its record counts' worth
// (Window 64 and 18 read-ahead batches of 2048 would hold the whole 50 MiB
// backlog here), and the drain still completes in order.
func TestBridgeBoundsBufferBytes(t *testing.T) {
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	const n, size, buffer = 400, 128 << 10, 4 << 20
	payload := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := lg.Append(context.Background(), []storage.Record{{Topic: "cam/1", QoS: 1, Payload: payload}}); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	sink := newFakeSink()
	sink.set(func(f *fakeSink) { f.hang = true })
	o := testOptions("up")
	o.BufferBytes = buffer
	running(t, newBridge(t, lg, sink, o))
	pending := func() (c int) { sink.set(func(f *fakeSink) { c = len(f.pending) }); return c }
	upstreamtest.Eventually(t, 10*time.Second, "records in flight", func() bool { return pending() > 0 })
	time.Sleep(300 * time.Millisecond) // the reader fills its read-ahead
	held := heap() - base
	inflight := pending()
	t.Logf("in flight %d records of %d KiB; heap %.1f MiB above the idle log's, buffer_bytes %d MiB",
		inflight, size>>10, float64(held)/(1<<20), buffer>>20)
	if inflight > buffer/2/size+1 {
		t.Fatalf("%d records of %d KiB in flight, over half of buffer_bytes %d", inflight, size>>10, buffer)
	}
	if held > 3*buffer {
		t.Fatalf("the bridge holds %.1f MiB with buffer_bytes %d MiB", float64(held)/(1<<20), buffer>>20)
	}
	sink.release()
	upstreamtest.Eventually(t, 20*time.Second, "drain", cursorAt(lg, "up", n+1))
	msgs := sink.messages()
	for i, m := range msgs {
		if m.Record.Offset != uint64(i+1) || len(m.Record.Payload) != size {
			t.Fatalf("message %d: offset %d, %d bytes", i, m.Record.Offset, len(m.Record.Payload))
		}
	}
}

func TestBridgeReplay(t *testing.T) {
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	appendN(t, lg, 100, "s/a")
	mid := time.Now()
	time.Sleep(5 * time.Millisecond) // ingest times after mid
	appendN(t, lg, 50, "s/a")
	sink := newFakeSink()
	b := newBridge(t, lg, sink, testOptions("up"))
	if err := b.Replay(1000); err == nil {
		t.Fatal("replay beyond the log end accepted")
	}
	running(t, b)
	upstreamtest.Eventually(t, 10*time.Second, "drain", cursorAt(lg, "up", 151))
	if err := b.ReplayTime(mid); err != nil {
		t.Fatal(err)
	}
	upstreamtest.Eventually(t, 10*time.Second, "replayed tail", func() bool { return len(sink.messages()) == 200 })
	if err := b.Replay(1); err != nil {
		t.Fatal(err)
	}
	upstreamtest.Eventually(t, 10*time.Second, "replayed all", func() bool { return len(sink.messages()) == 350 })
	msgs := sink.messages()
	if msgs[150].Record.Offset != 101 || msgs[200].Record.Offset != 1 {
		t.Fatalf("replays started at %d and %d, want 101 and 1", msgs[150].Record.Offset, msgs[200].Record.Offset)
	}
}

func TestBridgeRateLimit(t *testing.T) {
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	appendN(t, lg, 300, "s/a") // 1990 payload bytes
	sink := newFakeSink()
	o := testOptions("up")
	o.RateLimit = 1000 // bytes/s; burst = 1 s
	start := time.Now()
	running(t, newBridge(t, lg, sink, o))
	upstreamtest.Eventually(t, 20*time.Second, "drain", cursorAt(lg, "up", 301))
	if el := time.Since(start); el < 800*time.Millisecond {
		t.Fatalf("1990 B at 1 kB/s with a 1 kB burst drained in %v, want >= ~1s", el)
	}
}

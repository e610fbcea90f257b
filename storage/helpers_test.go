package storage

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// eventually polls cond every 5ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("eventually: "+msg, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testOptions(mod func(*Options)) Options {
	o := DefaultOptions()
	o.NodeID = "node-a"
	o.Durability = DurabilityNone
	if mod != nil {
		mod(&o)
	}
	return o
}

func openTest(t testing.TB, dir string, mod func(*Options)) *Log {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := Open(dir, testOptions(mod))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func rec(i int) Record {
	return Record{
		ClientID: "c1", Topic: fmt.Sprintf("sensors/%d/temp", i%7),
		Payload: []byte(fmt.Sprintf("payload-%06d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")),
		QoS:     byte(i % 3),
	}
}

// batchLimit is the most copies of r one Append takes: Badger's limits on one
// transaction for l's profile, as submit applies them (about 280 KB with pi).
// One more is ErrTooLarge.
func batchLimit(l *Log, r Record) int {
	r.Offset, r.Time = 0, time.Time{}
	if r.Origin == "" {
		r.Origin = l.opts.NodeID
	}
	var req request
	req.add(logKey(0), EncodeRecord(nil, &r), l.prof.valueThreshold)
	return int(min(l.db.MaxBatchSize()*9/10/req.size, l.db.MaxBatchCount()-2))
}

func appendN(t testing.TB, l *Log, from, n int) []uint64 {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = rec(from + i)
	}
	offs, err := l.Append(context.Background(), recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return offs
}
